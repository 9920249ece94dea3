"""Scoring matches the public VSI-Bench / VSTI-Bench evaluation code on hand-computed cases."""

from __future__ import annotations

from collections import Counter

import pytest

from vlm2_agent.eqa.metrics import (
    MRA_THRESHOLDS,
    aggregate,
    format_table,
    make_record,
    mean_relative_accuracy,
    parse_reply,
    score_prediction,
)
from vlm2_agent.eqa.question import Question


def mc(qtype="object_rel_distance", gt="B", frames=(0, 100), fps=4.0):
    opts = ["A. chair", "B. table", "C. sofa", "D. lamp"]
    return Question(id="q", scene_id="s", episode_id="e", question_type=qtype, question="?",
                    ground_truth=gt, frame_range=frames, fps=fps, options=opts)


def na(gt=10.0, qtype="object_abs_distance"):
    return Question(id="q", scene_id="s", episode_id="e", question_type=qtype, question="?",
                    ground_truth=gt, frame_range=(0, 10), fps=4.0)


def test_thresholds_are_the_ten_public_ones():
    assert len(MRA_THRESHOLDS) == 10
    assert MRA_THRESHOLDS[0] == 0.5 and MRA_THRESHOLDS[-1] == 0.95


@pytest.mark.parametrize(
    "pred, gt, expected",
    [
        (10, 10, 1.0),  # exact
        (9, 10, 0.9),  # rel err 0.1 <= 1-theta for theta in 0.50..0.90 (9 of 10)
        (11, 10, 0.9),
        (9.5, 10, 1.0),  # 0.05 <= 1-0.95 = 0.050000000000000044 in float64
        (8, 10, 0.6),  # 0.2 <= 1-0.8 = 0.19999999999999996 is False: thetas 0.50..0.75 only
        (12, 10, 0.6),
        (3, 4, 0.6),  # 0.25 <= 1-0.75 = 0.25 exactly: thetas 0.50..0.75
        (5, 10, 0.1),  # 0.5 <= 1-0.5 only
        (4.9, 10, 0.0),
        (15, 10, 0.1),
        (0, 10, 0.0),
        (2, 1, 0.0),
    ],
)
def test_mra_worked_examples(pred, gt, expected):
    assert mean_relative_accuracy(pred, gt) == pytest.approx(expected, abs=1e-12)


def test_mra_rejects_zero_ground_truth():
    with pytest.raises(ValueError, match="ground truth"):
        mean_relative_accuracy(1.0, 0.0)


@pytest.mark.parametrize(
    "reply, token",
    [
        ("B.", "B"),
        ("b", "b"),
        ("The answer is B", "The"),
        ("3.5 meters", "3.5"),
        ("", ""),
        ("B. table", "B"),
        (" B", ""),  # split on ' ' keeps an empty first token
        ("B\n", "B"),
        ("C...", "C"),
    ],
)
def test_parse_reply(reply, token):
    assert parse_reply(reply) == token


@pytest.mark.parametrize(
    "reply, score",
    [("B", 1.0), ("B.", 1.0), ("b", 1.0), ("B. table", 1.0), ("The answer is B", 0.0), ("", 0.0),
     ("A", 0.0), ("table", 0.0)],
)
def test_multiple_choice_scoring(reply, score):
    assert score_prediction(mc(gt="B"), reply) == score


@pytest.mark.parametrize(
    "reply, score",
    [("10", 1.0), ("9", 0.9), ("9.0 meters", 0.9), ("10.", 1.0), ("", 0.0), ("ten", 0.0),
     ("about 10", 0.0), ("nan", 0.0), ("inf", 0.0), ("1e1", 1.0)],
)
def test_numerical_scoring(reply, score):
    assert score_prediction(na(10.0), reply) == pytest.approx(score)


def test_score_accepts_a_question_dict():
    assert score_prediction(mc(gt="C").to_dict(), "c") == 1.0


def rec(qtype, score, horizon="short"):
    return {"question_type": qtype, "score": score, "horizon": horizon}


def test_rel_direction_levels_average_into_one_task():
    records = [
        rec("object_rel_direction_easy", 1.0), rec("object_rel_direction_easy", 1.0),  # easy 1.0
        rec("object_rel_direction_medium", 0.0), rec("object_rel_direction_medium", 1.0),  # 0.5
        rec("object_rel_direction_hard", 0.0),  # 0.0
    ]
    t = aggregate(records)["vsi"]
    # mean of level means (1 + 0.5 + 0) / 3, not the question mean 3/5
    assert t["tasks"] == {"object_rel_direction": pytest.approx(0.5)}
    assert t["subtypes"]["object_rel_direction_medium"] == 0.5


def test_overall_is_unweighted_mean_of_eight_vsi_tasks():
    scores = {
        "object_counting": 0.8, "object_abs_distance": 0.4, "object_size_estimation": 0.6,
        "room_size_estimation": 0.2, "object_rel_distance": 1.0, "route_planning": 0.0,
        "obj_appearance_order": 0.5,
    }
    records = [rec(k, v) for k, v in scores.items()]
    records += [rec("object_rel_distance", 1.0)] * 5  # more questions must not weigh more
    records += [rec("object_rel_direction_easy", 1.0), rec("object_rel_direction_medium", 0.0),
                rec("object_rel_direction_hard", 0.5)]  # task score 0.5
    t = aggregate(records)["vsi"]
    assert len(t["tasks"]) == 8
    assert t["overall"] == pytest.approx((0.8 + 0.4 + 0.6 + 0.2 + 1.0 + 0.0 + 0.5 + 0.5) / 8)


def test_vsti_overall_over_five_tasks_and_subtype_rollup():
    records = [
        rec("camera_obj_abs_dist", 0.5), rec("camera_displacement", 1.0),
        rec("camera_movement_direction", 0.0),
        rec("obj_obj_relative_pos_nf", 1.0), rec("obj_obj_relative_pos_lr", 0.0),
        rec("obj_obj_relative_pos_ud", 1.0),  # 2/3
        rec("camera_obj_rel_dist_v1", 1.0), rec("camera_obj_rel_dist_v3", 0.0),  # 0.5 (v2 absent)
    ]
    out = aggregate(records)
    assert set(out) == {"vsti"}
    t = out["vsti"]
    assert t["tasks"]["obj_obj_relative_pos"] == pytest.approx(2 / 3)
    assert t["tasks"]["camera_obj_rel_dist"] == pytest.approx(0.5)
    assert t["overall"] == pytest.approx((0.5 + 1.0 + 0.0 + 2 / 3 + 0.5) / 5)


def test_per_horizon_tables():
    records = [rec("object_counting", 1.0, "short"), rec("object_counting", 0.0, "long"),
               rec("route_planning", 1.0, "long")]
    t = aggregate(records)["vsi"]
    assert t["overall"] == pytest.approx((0.5 + 1.0) / 2)
    assert set(t["horizons"]) == {"short", "long"}
    assert t["horizons"]["short"]["overall"] == 1.0
    assert t["horizons"]["long"]["tasks"] == {"object_counting": 0.0, "route_planning": 1.0}
    assert "| overall | 75.0 | 100.0 | - | 50.0 |" in format_table(aggregate(records))


def test_make_record_uses_question_horizon():
    q = mc(frames=(0, 600), fps=4.0)  # 150 s of video
    r = make_record(q, "B")
    assert r["horizon"] == "long" and r["score"] == 1.0
    assert mc(frames=(0, 240)).horizon == "mid" and mc(frames=(0, 239)).horizon == "short"
    assert mc(frames=(0, 480)).horizon == "mid" and mc(frames=(0, 481)).horizon == "long"


def test_aggregate_names_missing_fields():
    with pytest.raises(ValueError, match="record 0: missing field 'score'"):
        aggregate([{"question_type": "object_counting"}])
    with pytest.raises(ValueError, match="unknown question_type"):
        aggregate([{"question_type": "nope", "score": 1.0}])


# ---- baselines -------------------------------------------------------------------------------

def _mcq(i, answer_text, texts=("left", "right", "back"), qtype="object_rel_direction_medium"):
    letter = "ABC"[texts.index(answer_text)]
    return Question(id=f"m{i}", scene_id="s", episode_id="e", question_type=qtype, question="?",
                    ground_truth=letter, frame_range=(0, 4), fps=4.0,
                    options=[f"{c}. {t}" for c, t in zip("ABC", texts)], answer=answer_text)


def _naq(i, gt, cat):
    # the blind baseline reads the category from the text, as a model would
    return Question(id=f"n{i}", scene_id="s", episode_id="e", question_type="object_size_estimation",
                    question=f"What is the length of the longest dimension of the {cat}?", ground_truth=gt,
                    frame_range=(0, 4), fps=4.0, meta={"category": cat})


def test_baselines_on_hand_built_train_split():
    from vlm2_agent.eqa.baselines import make_baseline

    train = [_mcq(0, "back"), _mcq(1, "back"), _mcq(2, "left"),
             _naq(0, 200.0, "sofa"), _naq(1, 180.0, "sofa"), _naq(2, 50.0, "chair"), _naq(3, 50.0, "lamp")]
    test_q = _mcq(9, "right", texts=("right", "back", "left"))  # "back" sits on letter B here
    freq, blind = make_baseline("frequency", train), make_baseline("blind", train)
    assert freq.predict(test_q) == "B"
    assert freq.predict(_naq(9, 1.0, "sofa")) == "50.0"  # mode of train sizes
    assert blind.predict(_naq(9, 1.0, "sofa")) == "190.0"  # mean sofa size
    assert blind.predict(_naq(9, 1.0, "piano")) == "120.0"  # unseen category: type mean
    assert blind.predict(test_q) == "B"  # "back" correct 2 of 3 times offered
    chance = make_baseline("chance", train, seed=1)
    letters = Counter(chance.predict(_mcq(i, "left")) for i in range(300))
    assert set(letters) == {"A", "B", "C"} and min(letters.values()) > 70
    assert chance.predict(test_q) == chance.predict(test_q)  # seeded per question
    sizes = [float(chance.predict(_naq(i, 1.0, "x"))) for i in range(50)]
    assert 50.0 <= min(sizes) and max(sizes) <= 200.0
    with pytest.raises(ValueError, match="no train questions of type 'object_counting'"):
        freq.predict(Question(id="c", scene_id="s", episode_id="e", question_type="object_counting",
                              question="?", ground_truth=2, frame_range=(0, 4), fps=4.0))


def test_all_empty_replies_warn():
    from vlm2_agent.eqa.evaluate import evaluate
    from vlm2_agent.eqa.question import Question

    qs = [Question(id=f"q{i}", scene_id="s", episode_id="e", question_type="object_counting",
                   question="How many chair(s) are in this room?", ground_truth=3.0, frame_range=(0, 8), fps=4.0)
          for i in range(4)]
    with pytest.warns(UserWarning, match="all 4 replies are empty"):
        result = evaluate(qs, ["", " ", "", ""])
    assert result["table"]["vsi"]["overall"] == 0.0
