"""Spatial embodied question answering: VSI-Bench / VSTI-Bench question types generated from
recorded episodes and scene annotations, scored exactly as the public evaluation code.

Example:
    >>> from vlm2_agent.eqa import score_prediction, Question
    >>> q = Question(id="x", scene_id="s", episode_id="e", question_type="object_abs_distance",
    ...              question="...", ground_truth=2.0, frame_range=(0, 40), fps=4.0)
    >>> score_prediction(q, "1.8 meters")
    0.9
"""

from envs.episode_log import EpisodeLog, EpisodeLogError

from .baselines import make_baseline
from .evaluate import PredictionsError, baseline_predict_fn, evaluate, load_predictions, match_predictions
from .metrics import aggregate, format_table, make_record, mean_relative_accuracy, score_prediction
from .question import BENCHMARK_VERSION, BenchmarkVersionError, Question, load_jsonl, save_jsonl
from .questions import GenConfig, generate_questions
from .selection import SelectionConfig, balance_problems, select_balanced
from .store import EpisodeStore, EpisodeStoreError
from .tasks import QUESTION_TYPES, VSI_TASKS, VSTI_TASKS, horizon_bucket, task_of

__all__ = [
    "BENCHMARK_VERSION",
    "BenchmarkVersionError",
    "SelectionConfig",
    "balance_problems",
    "select_balanced",
    "EpisodeLog",
    "EpisodeStore",
    "EpisodeStoreError",
    "PredictionsError",
    "baseline_predict_fn",
    "evaluate",
    "load_predictions",
    "match_predictions",
    "EpisodeLogError",
    "GenConfig",
    "generate_questions",
    "make_baseline",
    "QUESTION_TYPES",
    "Question",
    "VSI_TASKS",
    "VSTI_TASKS",
    "aggregate",
    "format_table",
    "horizon_bucket",
    "load_jsonl",
    "make_record",
    "mean_relative_accuracy",
    "save_jsonl",
    "score_prediction",
    "task_of",
]
