"""Benchmark v2's guarantees: balanced selection, the bias checks, the blind audit, pruning, the oracle.

A biased generator fails here: its answers are fed to :func:`balance_problems` (which must flag
them) and to the blind models (which must beat chance on them), and the selection must remove
the bias. Known answers come from hand-built scenes (the oracle must reproduce every one).
"""

from __future__ import annotations

import zlib
from collections import Counter

import numpy as np
import pytest

from vlm2_agent.eqa.audit.baselines import best_constants, reference_scores
from vlm2_agent.eqa.audit.blind import BagOfWords, TextForest, cross_validate
from vlm2_agent.eqa.audit.oracle import answer as oracle_answer
from vlm2_agent.eqa.audit.prune import PruneConfig, prune_bias
from vlm2_agent.eqa.audit.report import audit, bootstrap, task_scores
from vlm2_agent.eqa.metrics import score_prediction
from vlm2_agent.eqa.question import BenchmarkVersionError, Question, load_jsonl, save_jsonl
from vlm2_agent.eqa.questions import generate_questions
from vlm2_agent.eqa.selection import balance_problems, select_balanced

CATS = ["sofa", "tv", "lamp", "plant", "desk", "bed", "chair", "rug", "sink", "toilet"]


def count_q(i, category, value, scene=None):
    return Question(id=f"c{i}", scene_id=scene or f"s{i % 7}", episode_id="e", question_type="object_counting",
                    question=f"How many {category}(s) are shown in this video?", ground_truth=float(value),
                    frame_range=(0, 8), fps=4.0, meta={"category": category})


def direction_q(i, answer, cats, qtype="object_rel_direction_hard"):
    opts = {"object_rel_direction_hard": ["front-left", "front-right", "back-left", "back-right"],
            "object_rel_direction_medium": ["left", "right", "back"]}[qtype]
    letter = "ABCD"[zlib.crc32(f"{i}:{answer}".encode()) % len(opts)]  # independent of the answer
    others = [o for o in opts if o != answer]
    texts = others[: "ABCD".index(letter)] + [answer] + others["ABCD".index(letter):]
    text = f"If I am standing by the {cats[0]} and facing the {cats[1]}, is the {cats[2]} to my front-left?"
    return Question(id=f"d{i}", scene_id=f"s{i % 10}", episode_id="e", question_type=qtype, question=text,
                    ground_truth=letter, frame_range=(0, 8), fps=4.0,
                    options=[f"{c}. {t}" for c, t in zip("ABCD", texts)], answer=answer, meta={"categories": cats})


def size_q(i, category, cm):
    return Question(id=f"z{i}", scene_id=f"s{i % 10}", episode_id="e", question_type="object_size_estimation",
                    question=f"What is the length of the longest dimension of the {category}?",
                    ground_truth=float(cm), frame_range=(0, 8), fps=4.0, meta={"category": category})


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


TYPICAL_COUNT = dict(zip(CATS, [1, 2, 2, 3, 1, 1, 6, 1, 2, 1]))


def biased_counts(rng, n=600):
    # v1's pattern: most answers are small, and the category tells the count (chairs come in 6s)
    out = []
    for i in range(n):
        cat = CATS[i % len(CATS)]
        value = TYPICAL_COUNT[cat] if rng.random() < 0.85 else int(rng.integers(1, 9))
        out.append(count_q(i, cat, value))
    return out


def test_biased_counts_are_flagged_and_selection_removes_the_bias(rng):
    pool = biased_counts(rng)
    problems = balance_problems(pool)
    assert any("object_counting: the count 1 is" in p for p in problems), problems
    chosen = select_balanced(pool)
    shares = Counter(q.ground_truth for q in chosen)
    assert max(shares.values()) / len(chosen) <= 0.2 + 1e-9, shares
    assert not balance_problems(chosen)
    # chairs (always 4-8) keep only about their fair share of high counts
    assert sum(q.meta["category"] == "chair" for q in chosen) < 0.5 * len(chosen)


def test_unbalanced_direction_type_is_flagged_and_balanced(rng):
    pool = [direction_q(i, "front-left" if rng.random() < 0.45 else ("front-right" if rng.random() < 0.8 else
                        ["back-left", "back-right"][i % 2]), list(rng.choice(CATS, 3, replace=False)))
            for i in range(800)]
    assert any("'front-left' answers" in p for p in balance_problems(pool))
    chosen = select_balanced(pool)
    shares = Counter(q.answer for q in chosen)
    assert len(chosen) >= 100 and max(shares.values()) / len(chosen) <= 0.25 + 0.05, shares
    assert not balance_problems(chosen)


def test_a_category_that_always_gives_the_same_direction_is_capped():
    pool = [direction_q(i, "back-left", ["tv", "rug", "lamp"]) for i in range(50)]
    assert len(select_balanced(pool)) <= 2


def test_size_at_the_typical_value_is_flagged_and_dropped(rng):
    pool = [size_q(i, c, 200 if rng.random() < 0.7 else rng.integers(80, 320)) for i, c in
            enumerate(CATS * 40)]
    assert any("within 15% of their category's typical value" in p for p in balance_problems(pool))
    chosen = select_balanced(pool)
    assert chosen and not any("typical" in p for p in balance_problems(chosen, reference=pool))
    assert all(abs(q.ground_truth - 200) > 0.15 * q.ground_truth for q in chosen)


def test_options_closer_than_the_margin_are_flagged():
    qs = [Question(id=f"r{i}", scene_id="s", episode_id="e", question_type="object_rel_distance", question="?",
                   ground_truth="A", frame_range=(0, 8), fps=4.0, options=["A. sofa", "B. tv", "C. bed", "D. desk"],
                   answer="sofa", meta={"distances": {"sofa": 0.5, "tv": 0.6, "bed": 1.5, "desk": 2.0}})
          for i in range(40)]
    assert any("two options within 0.15 m" in p for p in balance_problems(qs))


def test_blind_models_find_a_text_shortcut_and_not_a_balanced_set(rng):
    biased = biased_counts(rng, 400)
    for model in ("forest", "bow"):
        replies = cross_validate(model, biased, folds=5)
        blind = np.mean([score_prediction(q, r) for q, r in zip(biased, replies)])
        const = reference_scores(biased, biased).mean()
        assert blind > const + 0.05, (model, blind, const)
    # answers drawn independently of the text: no model beats the best constant by much
    fair = [count_q(i, CATS[i % len(CATS)], int(rng.integers(1, 9))) for i in range(400)]
    replies = cross_validate("forest", fair, folds=5)
    blind = np.mean([score_prediction(q, r) for q, r in zip(fair, replies)])
    assert blind < reference_scores(fair, fair).mean() + 0.03


def test_multiple_choice_blind_model_learns_a_pair_prior():
    # the nightstand is always the answer when offered next to a bed question: a pair prior
    qs = []
    for i in range(300):
        answer_first = i % 4
        opts = ["nightstand", "sofa", "sink", "toilet"]
        opts = opts[1:answer_first + 1] + ["nightstand"] + opts[answer_first + 1:]
        qs.append(Question(id=str(i), scene_id=f"s{i % 10}", episode_id="e", question_type="object_rel_distance",
                           question="Which of these objects is the closest to the bed?", ground_truth="ABCD"[answer_first],
                           frame_range=(0, 8), fps=4.0, options=[f"{c}. {t}" for c, t in zip("ABCD", opts)],
                           answer="nightstand"))
    for model in (TextForest(), BagOfWords()):
        model.fit(qs[:200])
        acc = np.mean([score_prediction(q, r) for q, r in zip(qs[200:], model.predict(qs[200:]))])
        assert acc == 1.0


def test_best_constant_and_expected_chance():
    qs = [count_q(i, "chair", v) for i, v in enumerate([2, 2, 2, 8])]
    assert best_constants(qs)["object_counting"] == 2.0
    mc = direction_q(0, "front-left", ["sofa", "tv", "lamp"])
    assert reference_scores(qs, [mc])[0] == 0.25


def test_task_scores_and_bootstrap_intervals():
    types = ["object_rel_direction_easy"] * 50 + ["object_rel_direction_hard"] * 50 + ["object_counting"] * 100
    scores = np.array([1.0] * 50 + [0.0] * 50 + [0.5] * 100)
    rows = task_scores(types, scores)
    assert rows["object_rel_direction"] == 0.5 and rows["VSI overall (8 tasks)"] == 0.5
    ci = bootstrap(types, scores, reps=200)
    assert ci["object_counting"] == (0.5, 0.5) and ci["object_rel_direction"] == (0.5, 0.5)


def test_bias_pruning_removes_what_the_blind_model_knows(rng):
    pool = biased_counts(rng, 500)
    before = np.mean([score_prediction(q, r) for q, r in zip(pool, cross_validate("forest", pool))])
    kept, record = prune_bias(pool, PruneConfig(min_per_task=200, fraction=0.1, max_rounds=6))
    after = np.mean([score_prediction(q, r) for q, r in zip(kept, cross_validate("forest", kept))])
    assert 200 <= len(kept) < len(pool) and after < before
    assert record["rounds"][0]["removed"]["object_counting"] > 0
    again, _ = prune_bias(pool, PruneConfig(min_per_task=200, fraction=0.1, max_rounds=6))
    assert [q.id for q in again] == [q.id for q in kept]  # deterministic


def route_q(i, answer, offered, scene):
    letter = "ABCD"[zlib.crc32(f"r{i}".encode()) % 4]
    others = [o for o in offered if o != answer][:3]
    texts = others[: "ABCD".index(letter)] + [answer] + others["ABCD".index(letter):]
    return Question(id=f"r{i}", scene_id=scene, episode_id="e", question_type="route_planning",
                    question="You are a robot beginning at the sofa facing the tv. Go forward until the bed, "
                             "[please fill in], go forward until the lamp. Which turns?",
                    ground_truth=letter, frame_range=(0, 8), fps=4.0,
                    options=[f"{c}. {t}" for c, t in zip("ABCD", texts)], answer=answer)


def test_bias_pruning_with_the_train_prior_removes_a_sequence_prior(rng):
    # "Turn Back" is right most times it is offered: a prior over option texts that the question
    # text does not reveal, which the per-subject prior fit on train finds
    seqs = ["Turn Left", "Turn Right", "Turn Back", "Go Straight", "Turn Left, Turn Back"]

    def pool(n, offset):
        out = []
        for i in range(n):
            answer = "Turn Back" if rng.random() < 0.5 else seqs[int(rng.integers(0, 2))]
            offered = [answer] + [s for s in rng.permutation(seqs) if s != answer]
            out.append(route_q(offset + i, answer, offered, f"s{offset + i % 10}"))
        return out

    train, test = pool(400, 0), pool(500, 10_000)
    from vlm2_agent.eqa.baselines import make_baseline

    prior = make_baseline("blind", train)

    def prior_score(qs):
        return np.mean([score_prediction(q, prior.predict(q)) for q in qs])

    kept, record = prune_bias(test, PruneConfig(min_per_task=200, fraction=0.2, max_rounds=3, trees=10), fit=train)
    assert {"prior_fit", "frequency_fit", "bow_tst"} <= set(record["detectors"])
    assert prior_score(test) > 0.45 and prior_score(kept) < prior_score(test) - 0.1
    assert len(kept) >= 200


def test_v1_records_are_refused(tmp_path):
    q = count_q(0, "chair", 2)
    d = q.to_dict()
    del d["version"]
    (tmp_path / "v1.jsonl").write_text(__import__("json").dumps(d) + "\n")
    with pytest.raises(BenchmarkVersionError, match="v1.jsonl:1: .*benchmark v1.*rebuild the split"):
        load_jsonl(tmp_path / "v1.jsonl")
    assert load_jsonl(tmp_path / "v1.jsonl", accept_versions=("v1",))[0].version == "v1"
    save_jsonl([q], tmp_path / "v2.jsonl")
    assert load_jsonl(tmp_path / "v2.jsonl")[0].version == "v2"


# ---- the oracle on hand-built scenes -----------------------------------------------------------

def test_oracle_answers_every_generated_question_from_its_text():
    from test_eqa_questions import direction_scene, log, obj

    sc = direction_scene()
    sc.objects.extend([obj(6, "chair", 2.5, 0.5), obj(7, "chair", 3.0, 1.5), obj(8, "coffee_table", -2, 1)])
    ids = [o.instance_id for o in sc.objects]
    T = 120
    positions = [(0.5 * np.sin(t / 12), 0.0, 2.5 - 0.03 * t) for t in range(T)]
    headings = [0.4 * np.sin(t / 9) for t in range(T)]
    vis = [{i: 500 for i in ids if (t + 7 * i) % 40 < 30} for t in range(T)]
    walk = log(positions, headings=headings, visible=vis)
    qs = generate_questions(sc, walk, seed=1, max_per_type=6)
    types = {q.question_type for q in qs}
    assert len(types) >= 14, types
    for q in qs:
        reply = oracle_answer(q, sc, walk)
        assert score_prediction(q, reply) == 1.0, (q.question_type, q.question, q.options, q.ground_truth, reply)


def test_audit_table_has_references_models_and_oracle(rng):
    train = biased_counts(rng, 300)
    test = biased_counts(rng, 200)
    res = audit(test, train, oracle=lambda qs: ([f"{q.ground_truth:g}" for q in qs], []), reps=100)
    rows = res["rows"]
    assert rows["oracle"]["object_counting"] == 1.0
    assert set(rows) >= {"reference", "frequency", "prior", "forest", "bow", "forest_tst", "bow_tst"}
    lo, hi = res["best_ci"]["object_counting"]
    assert lo <= rows[res["best"]["object_counting"]]["object_counting"] <= hi
    assert res["counts"]["object_counting"]["all"] == 200
