"""Question generators give known answers on hand-built scenes and scripted trajectories."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from scenes.types import OrientedBox, Room, Scene, SceneObject
from vlm2_agent.eqa.episode import EpisodeLog, EpisodeLogError, camera_pose
from vlm2_agent.eqa.question import Question, load_jsonl, save_jsonl
from vlm2_agent.eqa.questions import GenConfig, generate_questions
from vlm2_agent.eqa.questions.common import LetterBalancer

ROOMS = [
    Room(0, "living_room", np.array([[-6, -8], [6, -8], [6, 4], [-6, 4]], float), 2.6),  # 144 m^2
    Room(1, "bedroom", np.array([[6, -8], [10, -8], [10, -3], [6, -3]], float), 2.6),  # 20 m^2
]


def obj(iid, cat, x, z, y=0.5, size=(0.4, 0.4, 0.4), room=0):
    return SceneObject(iid, cat, OrientedBox(np.array([x, y, z], float), np.array(size, float)), room)


def scene(*objects, rooms=ROOMS):
    return Scene("s0", meshes=[], objects=list(objects), rooms=list(rooms))


def log(positions, headings=None, visible=None, ids=(), fps=4.0, pixels=500):
    positions = np.asarray(positions, float)
    T = len(positions)
    headings = np.zeros(T) if headings is None else np.asarray(headings, float)
    if visible is None:
        visible = [{i: pixels for i in ids} for _ in range(T)]
    c2w = np.stack([camera_pose(p, h) for p, h in zip(positions, headings)])
    return EpisodeLog("s0", "e0", c2w, positions, headings, visible, (128, 128), 90.0, fps)


def still(T=10, pos=(0.0, 0.0, 0.0), **kw):
    return log([pos] * T, **kw)


def gen(sc, lg, types, n=100, **kw):
    return generate_questions(sc, lg, seed=0, types=types, max_per_type=n, **kw)


def find(qs, **meta):
    hits = [q for q in qs if all(q.meta.get(k) == v for k, v in meta.items())]
    assert len(hits) == 1, (meta, [q.meta for q in qs])
    return hits[0]


# ---- VSI-Bench types -------------------------------------------------------------------------

def direction_scene():
    # standing by the sofa, facing the tv along -Z: left is -X, back is +Z
    return scene(obj(1, "sofa", 0, 0), obj(2, "tv", 0, -3), obj(3, "lamp", -1, -1),
                 obj(4, "plant", 0.5, 1.5), obj(5, "desk", 1.5, -1.2))


@pytest.mark.parametrize(
    "qtype, query, expected",
    [
        ("object_rel_direction_hard", "lamp", "front-left"),  # 45 deg left of ahead
        ("object_rel_direction_hard", "plant", "back-right"),  # behind, slightly right
        ("object_rel_direction_hard", "desk", "front-right"),
        ("object_rel_direction_medium", "plant", "back"),  # turn of 162 deg >= 135
        ("object_rel_direction_medium", "lamp", "left"),
        ("object_rel_direction_easy", "desk", "right"),
        ("object_rel_direction_easy", "lamp", "left"),
    ],
)
def test_relative_direction(qtype, query, expected):
    sc = direction_scene()
    qs = gen(sc, still(ids=range(1, 6)), [qtype])
    q = find(qs, categories=["sofa", "tv", query])
    assert q.answer == expected
    assert q.options[ord(q.ground_truth) - 65] == f"{q.ground_truth}. {expected}"
    assert len(q.options) == {"hard": 4, "medium": 3, "easy": 2}[qtype.rsplit("_", 1)[1]]
    assert q.question.startswith(f"If I am standing by the sofa and facing the tv, is the {query}")


def test_relative_direction_skips_answers_near_a_boundary():
    # the lamp is 5 degrees left of straight ahead: easy/hard boundary at 0 deg -> skipped
    sc = scene(obj(1, "sofa", 0, 0), obj(2, "tv", 0, -3), obj(3, "lamp", -0.175, -2.0))
    for qtype in ("object_rel_direction_easy", "object_rel_direction_hard"):
        qs = gen(sc, still(ids=[1, 2, 3]), [qtype])
        assert not [q for q in qs if q.meta["categories"] == ["sofa", "tv", "lamp"]]


def test_abs_distance_closest_points_and_skip_rule():
    sc = scene(obj(1, "sofa", 0, 0, size=(1, 1, 1)), obj(2, "tv", 3, 0, size=(1, 1, 1)),
               obj(3, "stool", 0, 0.65, size=(0.2, 0.2, 0.2)))  # stool 0.05 m from the sofa
    qs = gen(sc, still(ids=[1, 2, 3]), ["object_abs_distance"])
    by = {frozenset(q.meta["categories"]): q.ground_truth for q in qs}
    assert by[frozenset({"sofa", "tv"})] == 2.0
    assert frozenset({"sofa", "stool"}) not in by  # closer than 0.2 m
    assert by[frozenset({"tv", "stool"})] == round(float(np.hypot(2.4, 0.05)), 1) == 2.4  # dx 2.4, dz 0.05


def test_size_is_longest_dimension_in_cm():
    sc = scene(obj(1, "bookshelf", 0, -2, size=(0.5, 1.234, 0.3)))
    (q,) = gen(sc, still(ids=[1]), ["object_size_estimation"])
    assert q.ground_truth == 123.0 and "bookshelf" in q.question and "centimeters" in q.question


def test_counting_counts_seen_instances_only():
    chairs = [obj(i, "chair", i - 12, -3) for i in (10, 11, 12)]
    sc = scene(*chairs, obj(1, "table", 0, -2))
    vis = [{10: 500, 11: 500, 12: 20, 1: 500}] * 5  # chair 12 never shows 49+ px at 128x128
    (q,) = gen(sc, still(T=5, visible=vis), ["object_counting"])
    assert q.ground_truth == 2.0
    assert q.question == "How many chair(s) are shown in this video?"  # one chair unseen in the room
    vis_all = [{10: 500, 11: 500, 12: 500}] * 5
    (q,) = gen(sc, still(T=5, visible=vis_all), ["object_counting"])
    assert q.ground_truth == 3.0 and q.question == "How many chair(s) are in this room?"


def test_room_size():
    sc = scene(obj(1, "sofa", 0, -2))
    (q,) = gen(sc, still(ids=[1]), ["room_size_estimation"])
    assert q.ground_truth == 144.0 and q.question.startswith("What is the size of this room (in square meters)?")
    walk = log([(0, 0, 0), (4, 0, -5), (8, 0, -5)], ids=[1])  # living room then bedroom
    qs = gen(sc, walk, ["room_size_estimation"])
    assert {q.question: q.ground_truth for q in qs} == {
        "What is the size of the living room (in square meters)?": 144.0,
        "What is the size of the bedroom (in square meters)?": 20.0,
    }


def test_rel_distance_picks_closest_choice():
    sc = scene(obj(1, "tv", 0, 0), obj(2, "sofa", 1, 0), obj(3, "bed", 0, 2), obj(4, "desk", -3, 0),
               obj(5, "sink", 0, -4))
    qs = gen(sc, still(ids=range(1, 6)), ["object_rel_distance"])
    for q in qs:
        d = q.meta["distances"]
        assert q.answer == min(d, key=d.get)
        assert f"is the closest to the {q.meta['category']}?" in q.question
    q = find(qs, category="tv")  # one question per target: 4 choices out of 4 others
    assert q.answer == "sofa" and q.meta["distances"]["sofa"] == pytest.approx(0.6)  # 1.0 - 0.2 - 0.2


def test_route_planning_fallback_straight_leg():
    # at the sofa facing the tv (-Z); the bed is to the left (-X): one left turn
    sc = scene(obj(1, "sofa", 0, 0), obj(2, "tv", 0, -3), obj(3, "bed", -3, 0))
    qs = gen(sc, still(ids=[1, 2, 3]), ["route_planning"])
    q = find(qs, route=["sofa", "bed"], facing="tv")
    assert q.answer == "Turn Left"
    assert "1. [please fill in] 2. Go forward until the bed. You have reached the final destination." in q.question


def test_route_planning_with_path_fn():
    sc = scene(obj(1, "sofa", 0, 0), obj(2, "tv", 0, -6), obj(3, "table", 0, -3), obj(4, "bed", 3, -3))
    calls = []

    def path_fn(a, b):
        calls.append((a, b))
        if np.allclose(a[[0, 2]], [0, 0]) and np.allclose(b[[0, 2]], [3, -3]):
            return [(0, 0), (0, -3.2), (3, -3.2)]  # an L-shaped geodesic past the table
        return [tuple(a[[0, 2]]), tuple(b[[0, 2]])]

    qs = gen(sc, still(ids=[1, 2, 3, 4]), ["route_planning"], path_fn=path_fn)
    q = find(qs, route=["sofa", "table", "bed"], facing="tv")
    assert q.answer == "Turn Right" and q.meta["used_path_fn"]
    assert "1. Go forward until the table. 2. [please fill in] 3. Go forward until the bed." in q.question
    assert calls


def test_appearance_order_follows_first_sighting():
    sc = scene(obj(1, "sofa", 0, -2), obj(2, "tv", 1, -2), obj(3, "bed", 2, -2), obj(4, "sink", 3, -2),
               obj(5, "sink", 4, -2, room=0))
    T = 40
    vis = [{} for _ in range(T)]
    for t in range(T):
        for iid, start in ((3, 0), (1, 10), (5, 20), (4, 25), (2, 30)):  # bed, sofa, sink(5), sink(4), tv
            if t >= start:
                vis[t][iid] = 300
    (q,) = gen(sc, still(T=T, visible=vis), ["obj_appearance_order"])
    assert q.answer == "bed, sofa, sink, tv"
    assert len(set(q.options)) == 4


def test_unseen_objects_are_never_asked_about():
    sc = scene(obj(1, "sofa", 0, 0), obj(2, "tv", 0, -3), obj(3, "lamp", -1, -1), obj(4, "piano", 2, 2))
    qs = gen(sc, still(ids=[1, 2, 3]), "vsi")
    assert qs and not any("piano" in q.question for q in qs)


# ---- VSTI-Bench types ------------------------------------------------------------------------

def test_camera_displacement_two_metres():
    walk = log([(0, 0, -0.25 * t) for t in range(12)])
    qs = gen(scene(), walk, ["camera_displacement"], config=GenConfig(displacement_frames=(8, 8)))
    assert qs and all(q.ground_truth == 2.0 for q in qs)
    assert any(q.question == "Approximately how far (in meters) did the camera move between frame 1 and "
               "frame 9 of 12?" for q in qs)


@pytest.mark.parametrize(
    "step, heading, expected",
    [((0, 0, -0.25), 0.0, "Forward"), ((0.25, 0, 0), 0.0, "Right"), ((0, 0, 0.25), 0.0, "Backward"),
     ((-0.25, 0, 0), np.pi / 2, "Forward"), ((0, 0, 0.25), np.pi / 2, "Left")],
)
def test_camera_movement_direction(step, heading, expected):
    walk = log([np.multiply(step, t) for t in range(12)], headings=[heading] * 12)
    qs = gen(scene(), walk, ["camera_movement_direction"])
    assert qs and all(q.answer == expected for q in qs)


def test_camera_object_distance():
    sc = scene(obj(1, "tv", 0, -3, y=1.25, size=(1, 1, 1)))
    qs = gen(sc, still(T=3, ids=[1]), ["camera_obj_abs_dist"])
    assert qs and all(q.ground_truth == 2.5 for q in qs)
    assert "nearest point of the tv in frame" in qs[0].question


@pytest.mark.parametrize(
    "qtype, a, b, expected",
    [
        ("obj_obj_relative_pos_lr", (-2, 1.25, -4), (2, 1.25, -4), "Left"),
        ("obj_obj_relative_pos_lr", (2, 1.25, -4), (-2, 1.25, -4), "Right"),
        ("obj_obj_relative_pos_nf", (0.5, 1.25, -2), (-0.5, 1.25, -5), "Near"),
        ("obj_obj_relative_pos_ud", (0, 2.2, -4), (0, 0.3, -4), "Up"),
    ],
)
def test_object_object_relative_position(qtype, a, b, expected):
    sc = scene(obj(1, "lamp", a[0], a[2], y=a[1]), obj(2, "sofa", b[0], b[2], y=b[1]))
    qs = gen(sc, still(T=2, ids=[1, 2]), [qtype])
    q = [q for q in qs if q.meta["categories"] == ["lamp", "sofa"]][0]
    assert q.answer == expected


def test_camera_object_relative_distance():
    sc = scene(obj(1, "lamp", 0, -2, y=1.25), obj(2, "sofa", 1, -4, y=1.25))
    qs = gen(sc, still(T=2, ids=[1, 2]), ["camera_obj_rel_dist_v3"])
    assert qs and all(q.answer == "lamp" and len(q.options) == 2 for q in qs)


# ---- options, determinism, records -----------------------------------------------------------

def test_letter_balancer_spreads_correct_letters_evenly():
    bal = LetterBalancer(np.random.default_rng(0))
    letters = [bal.arrange("x", ["a", "b", "c"])[1] for _ in range(100)]
    assert Counter(letters) == {"A": 25, "B": 25, "C": 25, "D": 25}


def test_generated_letters_are_balanced():
    walk = log([(0, 0, -0.25 * t) for t in range(60)])
    qs = gen(scene(), walk, ["camera_movement_direction"], n=40)
    counts = Counter(q.ground_truth for q in qs)
    assert len(qs) == 40 and counts == {"A": 10, "B": 10, "C": 10, "D": 10}


def test_same_seed_same_questions():
    sc = direction_scene()
    walk = log([(0.1 * t, 0, -0.2 * t) for t in range(30)], ids=range(1, 6))
    a = [q.to_dict() for q in generate_questions(sc, walk, seed=3)]
    b = [q.to_dict() for q in generate_questions(sc, walk, seed=3)]
    c = [q.to_dict() for q in generate_questions(sc, walk, seed=4)]
    assert a == b and a != c
    sub = [q.to_dict() for q in generate_questions(sc, walk, seed=3, types=["object_rel_direction"])]
    assert sub == [q for q in a if q["task"] == "object_rel_direction"]


def test_question_records_and_prompts(tmp_path):
    sc = direction_scene()
    qs = generate_questions(sc, still(T=300, ids=range(1, 6)), seed=0, max_per_type=2)
    assert {q.horizon for q in qs} == {"mid"}  # 300 steps at 4 fps = 75 s
    q = next(q for q in qs if not q.is_numerical)
    assert q.prompt().splitlines()[0] == "These are frames of a video."
    assert q.prompt().endswith("Options:\n" + "\n".join(q.options) +
                               "\nAnswer with the option's letter from the given choices directly.")
    save_jsonl(qs, tmp_path / "q.jsonl")
    assert [x.to_dict() for x in load_jsonl(tmp_path / "q.jsonl")] == [x.to_dict() for x in qs]
    assert q.frame_range == (0, 300) and q.scene_id == "s0" and q.episode_id == "e0"


def test_question_validation_names_the_problem():
    with pytest.raises(ValueError, match="ground_truth 'E' is not one of"):
        Question("x", "s", "e", "route_planning", "?", "E", (0, 4), 4.0, ["A. a", "B. b"])
    with pytest.raises(ValueError, match="must be > 0"):
        Question("x", "s", "e", "object_counting", "?", 0, (0, 4), 4.0)


def test_episode_log_roundtrip_and_validation(tmp_path):
    lg = log([(0, 0, 0), (0, 0, -0.25)], ids=[1, 2])
    lg.save(tmp_path / "ep")
    back = EpisodeLog.load(tmp_path / "ep")
    assert back.visible == lg.visible and np.array_equal(back.camera_to_world, lg.camera_to_world)
    assert back.fps == 4.0 and back.image_size == (128, 128)
    with pytest.raises(EpisodeLogError, match="positions has shape"):
        EpisodeLog("s", "e", lg.camera_to_world, np.zeros((3, 3)), lg.headings, lg.visible, (8, 8), 90.0)
    with pytest.raises(EpisodeLogError, match="visible has 1 entries, expected 2"):
        EpisodeLog("s", "e", lg.camera_to_world, lg.positions, lg.headings, [{}], (8, 8), 90.0)
    with pytest.raises(EpisodeLogError, match="arrays.npz: missing"):
        EpisodeLog.load(tmp_path)
