"""The ``policy`` config group as typed dataclasses, checked on construction.

``configs/policy/*.yaml`` are presets over :class:`PolicyConfig` (Hydra validates their types
against it: the schema is registered in Hydra's ConfigStore by ``configs/__init__.py``); code
takes a :class:`PolicyConfig` or a plain mapping of the same shape (:meth:`PolicyConfig.coerce`),
so the defaults live here and nowhere else. A wrong value raises ``ValueError`` naming the field,
e.g. ``policy.env.num_scenes``, and what it expects. The renderer is the ``sim`` group
(``configs/sim/``), composed into ``policy.sim`` by ``configs/train_policy.yaml``: its
``resolution`` is the one image-size knob of a policy run.

Example:
    >>> cfg = PolicyConfig.coerce({"task": "objectnav", "sim": {"resolution": [32, 32]}})
    >>> cfg.sim["resolution"], cfg.episode_steps(), cfg.ppo.n_steps
    ([32, 32], 200, 128)
    >>> PolicyConfig.coerce({"env": {"num_scenez": 3}})
    Traceback (most recent call last):
    ...
    ValueError: policy.env: unknown field(s) ['num_scenez']; expected some of ['eval_num_scenes', 'max_cached_scenes', 'max_episode_steps', 'num_scenes', 'sensors', 'task_kwargs']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

TASKS = ("pointnav", "objectnav", "returnnav")
ALGOS = ("ppo", "recurrent_ppo")
EXTRACTORS = ("vlm2", "cnn", "sb3_cnn", "none")
VEC_ENVS = ("subproc", "dummy", "batched")


def _positive(where: str, **values: Any) -> None:
    for name, v in values.items():
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ValueError(f"{where}.{name}={v!r}: expected a positive int")


def _choice(where: str, name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{where}.{name}={value!r}: expected one of {list(options)}")


@dataclass
class PolicyEnvConfig:
    """The task env's scenes, sensors and episode length (``max_episode_steps: null``: the task's
    default in ``PolicyConfig.tasks``; ``task_kwargs`` override that task's options)."""

    sensors: List[str] = field(default_factory=lambda: ["rgb", "depth"])
    num_scenes: int = 4
    eval_num_scenes: Optional[int] = None  # null: num_scenes
    max_episode_steps: Optional[int] = None
    max_cached_scenes: int = 4
    task_kwargs: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.sensors = tuple(self.sensors)
        _positive("policy.env", num_scenes=self.num_scenes, eval_num_scenes=self.eval_num_scenes,
                  max_episode_steps=self.max_episode_steps, max_cached_scenes=self.max_cached_scenes)


@dataclass
class TaskDefaults:
    """One task's episode length and env options (``tasks.<name>`` of a preset)."""

    max_episode_steps: int = 200
    task_kwargs: Dict[str, Any] = field(default_factory=dict)
    test_episodes: Optional[str] = None  # a habitat-lab episode file (json.gz) the test evaluation plays

    def __post_init__(self):
        _positive("policy.tasks.<task>", max_episode_steps=self.max_episode_steps)


@dataclass
class BackboneConfig:
    """The VLM2 backbone of the ``vlm2`` extractor and of the memory wrapper: a ``save_pretrained``
    folder (``checkpoint``; null: a random VLM2 from ``seed`` and ``config``)."""

    checkpoint: Optional[str] = None
    freeze: bool = True
    seed: int = 0
    config: Dict[str, Any] = field(default_factory=dict)  # VLM2Config fields (e.g. the model group, composed)

    def __post_init__(self):
        self.config = {k: v for k, v in self.config.items() if k != "name"}  # a preset's name, not a field


@dataclass
class MemoryWrapperConfig:
    """``VLM2MemoryWrapper`` options: VLM2Config fields of its memory (e.g. ``memory_mode: dual``; the
    ``memory`` group composes into it: ``memory@policy.memory.config=dual``)."""

    config: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.config = {k: v for k, v in self.config.items() if k != "name"}  # the memory group's preset name


@dataclass
class RecurrentConfig:
    """LSTM options of sb3-contrib's ``MultiInputLstmPolicy`` (``algo: recurrent_ppo``)."""

    lstm_hidden_size: int = 64
    n_lstm_layers: int = 1
    shared_lstm: Optional[bool] = None
    enable_critic_lstm: Optional[bool] = None

    def __post_init__(self):
        _positive("policy.recurrent", lstm_hidden_size=self.lstm_hidden_size, n_lstm_layers=self.n_lstm_layers)

    def kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class PPOConfig:
    """Hyper-parameters of both algorithms (SB3's names)."""

    n_steps: int = 128
    batch_size: int = 64
    n_epochs: int = 4
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    clip_range: float = 0.2

    def __post_init__(self):
        _positive("policy.ppo", n_steps=self.n_steps, batch_size=self.batch_size, n_epochs=self.n_epochs)
        if not self.learning_rate > 0 or not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"policy.ppo: need learning_rate > 0, 0 < gamma <= 1, 0 <= gae_lambda <= 1; got "
                             f"{self.learning_rate}, {self.gamma}, {self.gae_lambda}")


@dataclass
class EvalConfig:
    """The evaluation after training: ``episodes`` on ``split``'s scenes (0: none)."""

    episodes: int = 30
    split: str = "test"

    def __post_init__(self):
        if self.episodes < 0:
            raise ValueError(f"policy.eval.episodes={self.episodes}: expected >= 0")
        _choice("policy.eval", "split", self.split, ("train", "val", "test"))


@dataclass
class PolicyConfig:
    """A navigation policy run: task, algorithm, features extractor, envs, backbone, memory.

    Attributes:
        task: ``pointnav`` | ``objectnav`` | ``returnnav`` (``envs.gym.TASK_IDS``).
        algo: ``ppo`` (SB3 PPO, MLP head) | ``recurrent_ppo`` (sb3-contrib, LSTM head).
        extractor: ``vlm2`` (VLM2 vision + geometry + fusion) | ``cnn`` (RGB-D CNN from scratch, the
            same goal encoding) | ``sb3_cnn`` (SB3's CombinedExtractor) | ``none`` (goal only).
        n_envs, vec_env: vector env workers: ``subproc`` (one process each), ``dummy`` (one after
            another in this process) or ``batched`` (all in this process, their views rendered in one
            batch: ``envs.gym.vector.BatchedVectorEnv``; PointNav and ObjectNav, no memory wrapper).
        torch_threads: threads of the learner process (null: torch's default).
        total_timesteps, checkpoint_every: training length and SB3 checkpoint period (env steps).
        failed_stop_penalty, timeout_penalty: extra training cost of a failed stop / of reaching
            the step limit (the measures are unchanged); stop_logit_bias: initial offset of ``stop``.
        net_arch, cnn_output_dim: policy / value MLP and CNN feature sizes.
        sim: the renderer (``envs.SimulatorConfig`` fields: ``resolution`` [H, W], ``hfov``, ...);
            rendered sensors follow ``env.sensors`` unless ``sim.sensor_types`` lists them.
        tasks: per-task defaults, so one preset serves every task.
        memory: null, or the VLM2 memory wrapper that adds ``obs["memory"]``.
    """

    name: str = "custom"
    task: str = "pointnav"
    algo: str = "ppo"
    extractor: str = "vlm2"
    n_envs: int = 2
    vec_env: str = "subproc"
    torch_threads: Optional[int] = None
    total_timesteps: int = 65536
    checkpoint_every: int = 10_000
    failed_stop_penalty: float = 0.0
    timeout_penalty: float = 0.0
    stop_logit_bias: float = 0.0
    net_arch: List[int] = field(default_factory=lambda: [64, 64])
    cnn_output_dim: int = 128
    env: PolicyEnvConfig = field(default_factory=PolicyEnvConfig)
    sim: Dict[str, Any] = field(default_factory=dict)
    tasks: Dict[str, TaskDefaults] = field(default_factory=dict)
    vlm2: BackboneConfig = field(default_factory=BackboneConfig)
    memory: Optional[MemoryWrapperConfig] = None
    recurrent: RecurrentConfig = field(default_factory=RecurrentConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self):
        _choice("policy", "task", self.task, TASKS)
        _choice("policy", "algo", self.algo, ALGOS)
        _choice("policy", "extractor", self.extractor, EXTRACTORS)
        _choice("policy", "vec_env", self.vec_env, VEC_ENVS)
        _positive("policy", n_envs=self.n_envs, torch_threads=self.torch_threads,
                  total_timesteps=self.total_timesteps, checkpoint_every=self.checkpoint_every,
                  cnn_output_dim=self.cnn_output_dim)
        unknown = sorted(set(self.tasks) - set(TASKS))
        if unknown:
            raise ValueError(f"policy.tasks: unknown task(s) {unknown}; expected some of {list(TASKS)}")
        self.net_arch = [int(v) for v in self.net_arch]

    def episode_steps(self) -> int:
        """The step limit: ``env.max_episode_steps``, else the task's default."""
        if self.env.max_episode_steps is not None:
            return int(self.env.max_episode_steps)
        return self.tasks.get(self.task, TaskDefaults()).max_episode_steps

    def test_episodes(self) -> Optional[str]:
        """The task's fixed test episode file (``tasks.<task>.test_episodes``), or None."""
        return self.tasks.get(self.task, TaskDefaults()).test_episodes

    def task_options(self) -> dict[str, Any]:
        """The task env's options: the task's defaults, then ``env.task_kwargs``."""
        base = self.tasks.get(self.task, TaskDefaults()).task_kwargs
        return {k: (tuple(v) if isinstance(v, list) else v) for k, v in {**base, **self.env.task_kwargs}.items()}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def coerce(cls, cfg: PolicyConfig | Mapping[str, Any] | None) -> PolicyConfig:
        """``cfg`` itself, or a :class:`PolicyConfig` built from a mapping (an OmegaConf node too)."""
        from omegaconf import OmegaConf

        if isinstance(cfg, PolicyConfig):
            return cfg
        if OmegaConf.is_config(cfg):
            cfg = OmegaConf.to_container(cfg, resolve=True)
        return _build(cls, dict(cfg or {}), "policy")


_NESTED = {"env": PolicyEnvConfig, "vlm2": BackboneConfig, "memory": MemoryWrapperConfig,
           "recurrent": RecurrentConfig, "ppo": PPOConfig, "eval": EvalConfig}


def _build(cls, d: dict[str, Any], where: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; expected some of {sorted(names)}")
    nullable = {f.name for f in dataclasses.fields(cls) if f.default is None}
    d = {k: v for k, v in d.items() if v is not None or k in nullable}  # null elsewhere: the default
    if cls is PolicyConfig:
        for key, sub in _NESTED.items():
            if isinstance(d.get(key), Mapping):
                d[key] = _build(sub, dict(d[key]), f"{where}.{key}")
        if isinstance(d.get("tasks"), Mapping):
            d["tasks"] = {t: _build(TaskDefaults, dict(v or {}), f"{where}.tasks.{t}") for t, v in d["tasks"].items()}
    return cls(**d)


__all__ = ["ALGOS", "EXTRACTORS", "TASKS", "BackboneConfig", "EvalConfig", "MemoryWrapperConfig", "PPOConfig",
           "PolicyConfig", "PolicyEnvConfig", "RecurrentConfig", "TaskDefaults"]
