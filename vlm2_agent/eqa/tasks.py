"""Task names of the two public benchmarks, how sub-types roll up into tasks, and horizon buckets.

VSI-Bench (Yang et al. 2024) scores 8 tasks; its three relative-direction levels are separate question
types that the official aggregation averages into one ``object_rel_direction`` task. VSTI-Bench
(VLM-3R) scores 5 tasks; in its public evaluation ``obj_obj_relative_pos`` is split into ``_nf``/``_lr``
/``_ud`` and ``camera_obj_rel_dist`` into ``_v1``/``_v2``/``_v3``, again averaged per task.

Example:
    >>> task_of("object_rel_direction_hard"), benchmark_of("camera_displacement")
    ('object_rel_direction', 'vsti')
    >>> horizon_bucket(75.0)
    'mid'
"""

from __future__ import annotations

#: question type -> task, for VSI-Bench (order = the paper's table order).
VSI_SUBTYPES: dict[str, str] = {
    "object_counting": "object_counting",
    "object_abs_distance": "object_abs_distance",
    "object_size_estimation": "object_size_estimation",
    "room_size_estimation": "room_size_estimation",
    "object_rel_distance": "object_rel_distance",
    "object_rel_direction_easy": "object_rel_direction",
    "object_rel_direction_medium": "object_rel_direction",
    "object_rel_direction_hard": "object_rel_direction",
    "route_planning": "route_planning",
    "obj_appearance_order": "obj_appearance_order",
}
VSTI_SUBTYPES: dict[str, str] = {
    "camera_obj_abs_dist": "camera_obj_abs_dist",
    "camera_displacement": "camera_displacement",
    "camera_movement_direction": "camera_movement_direction",
    "obj_obj_relative_pos_nf": "obj_obj_relative_pos",
    "obj_obj_relative_pos_lr": "obj_obj_relative_pos",
    "obj_obj_relative_pos_ud": "obj_obj_relative_pos",
    "camera_obj_rel_dist_v1": "camera_obj_rel_dist",
    "camera_obj_rel_dist_v2": "camera_obj_rel_dist",
    "camera_obj_rel_dist_v3": "camera_obj_rel_dist",
}
QUESTION_TYPES: tuple[str, ...] = tuple(VSI_SUBTYPES) + tuple(VSTI_SUBTYPES)
VSI_TASKS: tuple[str, ...] = tuple(dict.fromkeys(VSI_SUBTYPES.values()))
VSTI_TASKS: tuple[str, ...] = tuple(dict.fromkeys(VSTI_SUBTYPES.values()))

#: numerical-answer types, scored by mean relative accuracy; everything else is multiple choice.
NUMERICAL_TYPES: frozenset[str] = frozenset(
    {
        "object_counting",
        "object_abs_distance",
        "object_size_estimation",
        "room_size_estimation",
        "camera_obj_abs_dist",
        "camera_displacement",
    }
)

#: horizon buckets of the long-horizon analysis: Short < 60 s <= Mid <= 120 s < Long.
HORIZONS: tuple[str, ...] = ("short", "mid", "long")
SHORT_MAX_S = 60.0
MID_MAX_S = 120.0


def check_type(question_type: str) -> str:
    if question_type not in VSI_SUBTYPES and question_type not in VSTI_SUBTYPES:
        raise ValueError(
            f"unknown question_type {question_type!r}; expected one of {', '.join(QUESTION_TYPES)}"
        )
    return question_type


def task_of(question_type: str) -> str:
    """The scored task a question type belongs to (sub-types roll up)."""
    check_type(question_type)
    return VSI_SUBTYPES.get(question_type) or VSTI_SUBTYPES[question_type]


def benchmark_of(question_type: str) -> str:
    """``"vsi"`` or ``"vsti"``."""
    check_type(question_type)
    return "vsi" if question_type in VSI_SUBTYPES else "vsti"


def is_numerical(question_type: str) -> bool:
    return check_type(question_type) in NUMERICAL_TYPES


def expand_types(types: list[str] | tuple[str, ...] | None) -> list[str]:
    """Question types named by ``types``: sub-type names, task names (all their sub-types),
    or ``"vsi"``/``"vsti"`` for a whole benchmark. ``None`` means all types."""
    if types is None:
        return list(QUESTION_TYPES)
    if isinstance(types, str):
        types = [types]
    out: list[str] = []
    for name in types:
        if name == "vsi":
            found = list(VSI_SUBTYPES)
        elif name == "vsti":
            found = list(VSTI_SUBTYPES)
        else:
            found = [q for q in QUESTION_TYPES if q == name or task_of(q) == name]
        if not found:
            raise ValueError(
                f"types: unknown name {name!r}; expected a question type, a task "
                f"({', '.join(VSI_TASKS + VSTI_TASKS)}) or 'vsi'/'vsti'"
            )
        out += [q for q in found if q not in out]
    return out


def horizon_bucket(duration_s: float) -> str:
    """``"short"`` (< 60 s), ``"mid"`` (60-120 s) or ``"long"`` (> 120 s) of video."""
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s}")
    if duration_s < SHORT_MAX_S:
        return "short"
    return "mid" if duration_s <= MID_MAX_S else "long"
