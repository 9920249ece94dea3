"""The furniture catalogue: categories, real-world sizes (with sources), colours, and room contents.

Sizes are full extents in metres: ``width`` along the object's front (left-right), ``depth``
front-back, ``height`` up. Each range cites where it comes from; abbreviations:

- NEU: E. & P. Neufert, *Architects' Data*, 4th ed. (Wiley-Blackwell, 2012), chapters on dwellings
  (bedrooms, living rooms, kitchens, bathrooms) and furniture dimensions.
- DIM: Dimensions.com, furniture and fixtures reference drawings (typical ranges per category).
- EN1116: EN 1116 "Kitchen furniture — co-ordinating sizes" (600 mm modules, worktop 850–950 mm).
- EN527: EN 527-1 "Office furniture — work tables and desks" (740 mm desk height, depths).
- EN1335: EN 1335-1 "Office work chair" (seat height range, seat width/depth).
- EN232: EN 232 "Baths" (co-ordinating dimensions 1600–1800 x 700–800 mm).
- EN37: EN 37 / EN 997 WC pans (projection 500–700 mm, bowl height ~400 mm).
- IEC60456: household washing machines, de-facto 600 x 600 x 850 mm front loaders.
- TV: 16:9 panels of 32–65 inch diagonal (width = 0.872 x diagonal).

Example:
    >>> CATALOG["bed"].height
    (0.45, 1.1)
    >>> len(CATALOG) >= 25
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

Range = tuple[float, float]
RGB = tuple[int, int, int]

# Shared palettes (sRGB). Per category a palette is picked per instance and jittered slightly,
# so a category keeps a recognisable colour family across scenes.
WOOD: list[RGB] = [(150, 111, 51), (193, 154, 107), (101, 67, 33), (222, 184, 135), (120, 81, 45)]
WHITE: list[RGB] = [(235, 235, 230), (245, 245, 240), (225, 225, 220)]
FABRIC: list[RGB] = [(70, 90, 130), (120, 120, 125), (150, 60, 55), (80, 110, 80), (190, 175, 150)]
METAL: list[RGB] = [(60, 60, 65), (160, 160, 165), (40, 40, 40)]
DARK: list[RGB] = [(25, 25, 28), (35, 35, 40)]
CERAMIC: list[RGB] = [(245, 245, 245), (235, 238, 240)]
STEEL: list[RGB] = [(190, 192, 195), (170, 172, 175)]
GREEN: list[RGB] = [(50, 120, 50), (70, 140, 60), (40, 100, 45)]
POT: list[RGB] = [(170, 85, 50), (200, 200, 195), (60, 60, 60)]
RUG: list[RGB] = [(150, 40, 40), (40, 60, 110), (190, 170, 130), (90, 90, 95), (120, 140, 110)]
BEDDING: list[RGB] = [(240, 240, 235), (180, 200, 225), (210, 190, 200), (200, 210, 190)]
SHADE: list[RGB] = [(245, 235, 210), (230, 230, 225)]


@dataclass(frozen=True)
class Category:
    """One furniture category: size ranges (m), their source, colour palettes per part role."""

    name: str
    width: Range
    depth: Range
    height: Range
    source: str
    colors: dict[str, list[RGB]] = field(default_factory=dict)
    clearance: float = 0.4  # free floor kept in front of it (m), for access
    against_wall: bool = True


def _c(name, width, depth, height, source, clearance=0.4, against_wall=True, **colors) -> Category:
    return Category(name, width, depth, height, source, colors, clearance, against_wall)


CATALOG: dict[str, Category] = {
    c.name: c
    for c in [
        # Single 0.9 x 2.0 up to king 1.8 x 2.1 mattresses plus frame (NEU bedrooms, DIM beds).
        _c("bed", (0.95, 1.9), (2.0, 2.25), (0.45, 1.1), "NEU, DIM", 0.6,
           frame=WOOD, sheet=BEDDING, blanket=FABRIC),
        _c("nightstand", (0.35, 0.7), (0.3, 0.5), (0.45, 0.7), "DIM (bedside tables 14-28 in)", 0.3, body=WOOD + WHITE),
        # Single-door 0.5 m up to four-door 2.4 m units (NEU, DIM), 600 mm deep for hangers.
        _c("wardrobe", (0.5, 2.4), (0.55, 0.65), (1.6, 2.3), "NEU, DIM (600 mm deep for hangers)", 0.7,
           body=WOOD + WHITE, handle=METAL),
        # From 2-drawer chests (0.7 m) to 9-drawer double dressers (1.8 m; DIM 28-72 in).
        _c("dresser", (0.7, 1.8), (0.4, 0.55), (0.7, 1.3), "DIM", 0.6, body=WOOD + WHITE, handle=METAL),
        # Compact writing desks 0.8 m to executive desks 2.0 m (DIM 32-79 in; EN527 height 0.72-0.76).
        _c("desk", (0.8, 2.0), (0.5, 0.9), (0.72, 0.76), "EN527, DIM", 0.7, top=WOOD + WHITE, legs=METAL),
        # Seat height 0.42-0.53 (EN1335); overall height with backrest 0.9-1.2.
        _c("office_chair", (0.55, 0.7), (0.55, 0.7), (0.9, 1.2), "EN1335, DIM", 0.0, False,
           seat=DARK + FABRIC, frame=METAL),
        _c("monitor", (0.42, 0.82), (0.15, 0.25), (0.32, 0.6), "DIM (19-34 inch incl. ultrawide, with stand)", 0.0,
           screen=DARK),
        # Low two-shelf bookcases (0.75 m) to tall units (2.2 m), narrow to double width (DIM 30-87 in).
        _c("bookshelf", (0.4, 1.6), (0.25, 0.4), (0.75, 2.2), "DIM, NEU", 0.6,
           body=WOOD + WHITE, books=FABRIC + RUG),
        # Loveseats from 1.2 m to four-seaters of 3.0 m (DIM 48-120 in).
        _c("sofa", (1.2, 3.0), (0.8, 1.0), (0.75, 0.95), "DIM, NEU (loveseats to 4 seaters)", 0.35,
           body=FABRIC, legs=DARK + WOOD),
        _c("armchair", (0.6, 1.1), (0.65, 1.0), (0.7, 1.15), "DIM (slipper to club and wing chairs)", 0.4, False,
           body=FABRIC, legs=DARK + WOOD),
        _c("coffee_table", (0.6, 1.5), (0.45, 0.9), (0.3, 0.5), "DIM (24-60 in)", 0.3, False,
           top=WOOD + WHITE + DARK, legs=WOOD + METAL),
        _c("tv_stand", (0.9, 2.2), (0.35, 0.5), (0.4, 0.7), "DIM (36-87 in media consoles)", 0.8,
           body=WOOD + WHITE + DARK),
        _c("tv", (0.53, 1.65), (0.06, 0.25), (0.35, 1.0), "TV (24-75 inch 16:9 incl. feet)", 0.0,
           screen=DARK, frame=DARK),
        _c("rug", (0.9, 3.0), (0.6, 2.4), (0.01, 0.02), "DIM (2x3 ft to 8x10 ft)", 0.0, False, rug=RUG),
        # Potted floor plants from small pots (0.3 m) to indoor trees (2.0 m; DIM 1-7 ft).
        _c("plant", (0.25, 0.8), (0.25, 0.8), (0.3, 2.0), "DIM (potted indoor plants)", 0.0, False,
           leaves=GREEN, pot=POT),
        _c("lamp", (0.25, 0.6), (0.25, 0.6), (1.2, 1.9), "DIM (floor lamps 48-75 in)", 0.0, False,
           shade=SHADE, pole=METAL),
        # Two-seat tables of 0.8 m to ten-seat tables of 2.4 m (NEU: 0.6 m of edge per seat).
        _c("dining_table", (0.8, 2.4), (0.75, 1.1), (0.72, 0.78), "NEU, DIM (2-10 seats)", 0.0, False,
           top=WOOD + WHITE, legs=WOOD + METAL),
        # Seat height 0.43-0.48 m, back to 0.8-1.0 m (NEU dining, DIM side chairs).
        _c("chair", (0.4, 0.5), (0.45, 0.55), (0.8, 1.0), "NEU, DIM", 0.0, False, seat=WOOD + FABRIC,
           legs=WOOD + METAL),
        # From 400 mm base units to 2.0 m sideboards, and tall larder units to 2.0 m (EN1116 modules, DIM).
        _c("cabinet", (0.4, 2.0), (0.35, 0.6), (0.7, 2.0), "EN1116, DIM", 0.6,
           body=WOOD + WHITE, handle=METAL),
        # Under-counter fridges (0.85 m) to tall fridge-freezers (2.0 m) (EN1116 600 mm module, DIM).
        _c("fridge", (0.55, 0.9), (0.6, 0.75), (0.85, 2.0), "EN1116 (600 mm module), DIM", 0.8,
           body=WHITE + STEEL, handle=METAL),
        _c("stove", (0.5, 0.9), (0.6, 0.65), (0.85, 0.92), "EN1116, DIM", 0.8, body=WHITE + STEEL,
           top=DARK),
        # Kitchen sink base / bathroom vanity: worktop height 0.8-0.95 (EN1116, NEU bathrooms).
        _c("sink", (0.45, 1.5), (0.45, 0.6), (0.8, 0.95), "EN1116, NEU (single to double-bowl units)", 0.6,
           body=WHITE + WOOD,
           basin=CERAMIC + STEEL, tap=STEEL),
        _c("toilet", (0.36, 0.45), (0.6, 0.75), (0.7, 0.85), "EN37, NEU", 0.5, bowl=CERAMIC),
        _c("bathtub", (1.5, 1.8), (0.7, 0.8), (0.45, 0.6), "EN232", 0.6, tub=CERAMIC),
        _c("washing_machine", (0.58, 0.62), (0.55, 0.62), (0.84, 0.86), "IEC60456", 0.6,
           body=WHITE, door=DARK),
        # Wastebaskets of 0.25 m to kitchen bins of 0.8 m (DIM).
        _c("trash_can", (0.2, 0.45), (0.2, 0.45), (0.25, 0.8), "DIM", 0.0, False, body=METAL + WHITE),
        # Upright pianos: 1.45-1.55 wide, 0.55-0.65 deep, 1.1-1.35 tall (DIM).
        _c("piano", (1.45, 1.55), (0.55, 0.65), (1.1, 1.35), "DIM (upright pianos)", 0.6,
           body=DARK + WOOD),
        _c("side_table", (0.35, 0.8), (0.35, 0.8), (0.45, 0.75), "DIM (end and accent tables)", 0.0, False,
           top=WOOD + WHITE),
        _c("shoe_rack", (0.5, 1.2), (0.25, 0.4), (0.3, 1.2), "DIM (2-tier racks to shoe cabinets)", 0.3,
           body=WOOD + WHITE + METAL),
        _c("coat_rack", (0.4, 0.6), (0.4, 0.6), (1.7, 1.9), "DIM (standing coat racks)", 0.0, False,
           pole=WOOD + METAL),
    ]
}

ROOM_TYPES: tuple[str, ...] = (
    "bedroom", "living_room", "kitchen", "bathroom", "office", "dining_room", "hallway",
)

# Floor area ranges per room type in m^2 (NEU dwellings: minimum and comfortable room sizes).
ROOM_AREA: dict[str, Range] = {
    "bathroom": (4.0, 9.0),
    "bedroom": (9.0, 20.0),
    "kitchen": (7.0, 15.0),
    "living_room": (15.0, 35.0),
    "office": (7.0, 14.0),
    "dining_room": (9.0, 18.0),
    "hallway": (3.0, 12.0),
}
# Smallest side of a room (m): a bathroom needs ~1.6 m for a tub, a bedroom ~2.6 m for a bed.
ROOM_MIN_SIDE: dict[str, float] = {
    "bathroom": 1.6, "bedroom": 2.6, "kitchen": 2.0, "living_room": 3.0,
    "office": 2.2, "dining_room": 2.6, "hallway": 1.1,
}


@dataclass(frozen=True)
class Item:
    """A furniture rule for a room type: ``count`` range, probability the item appears at all,
    and how it is placed (``wall``, ``free``, or a group role handled by the placer)."""

    category: str
    count: tuple[int, int] = (1, 1)
    prob: float = 1.0
    placement: str = "wall"


# Order matters: big anchors first (they need the most room), small fill items last.
ROOM_CONTENTS: dict[str, list[Item]] = {
    "bedroom": [
        Item("bed", placement="bed_set"),
        Item("wardrobe", prob=0.85),
        Item("dresser", prob=0.4),
        Item("desk", prob=0.25, placement="desk_set"),
        Item("rug", prob=0.5, placement="free"),
        Item("lamp", (1, 2), 0.4, "wall"),
        Item("plant", (1, 3), 0.5, "wall"),
        Item("trash_can", prob=0.3, placement="wall"),
    ],
    "living_room": [
        Item("sofa", placement="sofa_set"),
        Item("armchair", (1, 3), 0.7, "free"),
        Item("bookshelf", (1, 3), 0.6),
        Item("dining_table", prob=0.3, placement="dining_set"),
        Item("piano", prob=0.2),
        Item("cabinet", (1, 2), 0.4),
        Item("side_table", (1, 2), 0.5, placement="wall"),
        Item("plant", (1, 5), 0.9, "wall"),
        Item("lamp", (1, 3), 0.7, "wall"),
    ],
    "kitchen": [
        Item("fridge"),
        Item("stove"),
        Item("sink"),
        Item("cabinet", (2, 5), 1.0),
        Item("dining_table", prob=0.6, placement="dining_set"),
        Item("washing_machine", prob=0.2),
        Item("trash_can", (1, 2), 0.7, "wall"),
        Item("plant", (1, 2), 0.4, "wall"),
    ],
    "bathroom": [
        Item("bathtub", prob=0.7),
        Item("toilet"),
        Item("sink"),
        Item("washing_machine", prob=0.4),
        Item("cabinet", prob=0.3),
        Item("trash_can", prob=0.6, placement="wall"),
    ],
    "office": [
        Item("desk", (1, 2), 1.0, "desk_set"),
        Item("bookshelf", (1, 3), 0.9),
        Item("cabinet", (1, 2), 0.5),
        Item("armchair", prob=0.3, placement="free"),
        Item("plant", (1, 3), 0.6, "wall"),
        Item("lamp", prob=0.4, placement="wall"),
        Item("trash_can", prob=0.6, placement="wall"),
    ],
    "dining_room": [
        Item("dining_table", placement="dining_set"),
        Item("cabinet", (1, 3), 0.7),
        Item("plant", (1, 3), 0.8, "wall"),
        Item("lamp", (1, 2), 0.5, "wall"),
        Item("piano", prob=0.1),
    ],
    "hallway": [
        Item("shoe_rack", prob=0.7),
        Item("coat_rack", prob=0.6, placement="wall"),
        Item("cabinet", (1, 2), 0.3),
        Item("plant", (1, 2), 0.4, "wall"),
    ],
}

# Objects that stand on another object (child -> parent); their footprint lies on the parent's top.
SUPPORTED_ON: dict[str, str] = {"tv": "tv_stand", "monitor": "desk"}
# Floor coverings: negligible height; they may lie under furniture but never under other rugs
# or in a doorway's clear zone (the no-overlap rule of the generator and its tests).
FLOOR_COVERINGS: frozenset[str] = frozenset({"rug"})


def check_catalog() -> None:
    """Raise ValueError if a range is empty or a room rule names an unknown category."""
    for c in CATALOG.values():
        for dim in ("width", "depth", "height"):
            lo, hi = getattr(c, dim)
            if not 0 < lo <= hi:
                raise ValueError(f"catalog {c.name}.{dim}: expected 0 < lo <= hi, got {(lo, hi)}")
    for room, items in ROOM_CONTENTS.items():
        for it in items:
            if it.category not in CATALOG:
                raise ValueError(f"ROOM_CONTENTS[{room!r}]: unknown category {it.category!r}")
