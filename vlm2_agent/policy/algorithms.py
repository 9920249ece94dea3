"""PPO and RecurrentPPO navigation models: build from a policy config, save / load, and act.

``algo: ppo`` gives SB3 ``PPO("MultiInputPolicy")``, ``algo: recurrent_ppo`` sb3-contrib's
``RecurrentPPO("MultiInputLstmPolicy")`` (LSTM options under ``recurrent``); both take the features
extractor of :func:`vlm2_agent.policy.training.policy_kwargs`. :func:`load_model` reads either
from a zip, and :class:`PolicyActor` acts one observation at a time (carrying the LSTM state).

Example:
    >>> cfg = PolicyConfig.coerce({"algo": "recurrent_ppo", "recurrent": {"lstm_hidden_size": 32}})
    >>> cfg.algo, cfg.recurrent.kwargs()
    ('recurrent_ppo', {'lstm_hidden_size': 32, 'n_lstm_layers': 1})
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np

from vlm2_agent.policy.config import ALGOS, PolicyConfig
from vlm2_agent.policy.training import Config, policy_kwargs


def build_model(cfg: Config, venv, seed: int, tensorboard_log: str | None = None, verbose: int = 0):
    """SB3 ``PPO`` with ``MultiInputPolicy`` (``algo: ppo``) or sb3-contrib ``RecurrentPPO`` with
    ``MultiInputLstmPolicy`` (``algo: recurrent_ppo``; LSTM size from ``recurrent``), both with the
    config's extractor, ``ppo`` hyper-parameters and initial stop-logit bias. ``verbose=1`` prints
    SB3's log table after every rollout; ``tensorboard_log`` is a folder for TensorBoard's logs.

    Example:
        >>> from vlm2_agent.policy.training import make_vec_env
        >>> cfg = {"algo": "recurrent_ppo", "extractor": "none", "sim": {"resolution": [32, 32]}, "env": {"num_scenes": 1},
        ...        "recurrent": {"lstm_hidden_size": 16}, "vec_env": "dummy", "n_envs": 1}
        >>> type(build_model(cfg, make_vec_env(cfg, seed=0), seed=0)).__name__
        'RecurrentPPO'
    """
    import torch

    cfg = PolicyConfig.coerce(cfg)
    algo = cfg.algo
    lstm = cfg.recurrent.kwargs() if algo == "recurrent_ppo" else {}
    if tensorboard_log is not None:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise ImportError("tensorboard logging needs the tensorboard package: pip install tensorboard "
                              "(or set tensorboard=false)") from None
    kw = {"seed": seed, "device": "cpu", "verbose": int(verbose), "tensorboard_log": tensorboard_log,
          **dataclasses.asdict(cfg.ppo)}
    if algo == "recurrent_ppo":
        from sb3_contrib import RecurrentPPO

        model = RecurrentPPO("MultiInputLstmPolicy", venv, policy_kwargs={**policy_kwargs(cfg), **lstm}, **kw)
    else:
        from stable_baselines3 import PPO

        model = PPO("MultiInputPolicy", venv, policy_kwargs=policy_kwargs(cfg), **kw)
    bias = cfg.stop_logit_bias
    if bias:
        # A uniform initial policy stops within ~4 steps (p=1/4 per step), so it never walks far
        # enough to feel the distance reward; a lower initial stop logit lets episodes run.
        with torch.no_grad():
            model.policy.action_net.bias[0] += bias
    return model


def build_ppo(cfg: Config, venv, seed: int, tensorboard_log: str | None = None):
    """Same as :func:`build_model` (kept name: ``algo`` picks PPO or RecurrentPPO)."""
    return build_model(cfg, venv, seed, tensorboard_log)


def saved_algo(path: str | Path, data: dict | None = None) -> str:
    """The algorithm of an SB3 ``.zip`` (``ppo`` or ``recurrent_ppo``), read from the policy class
    module recorded in its ``data`` entry (read from ``path`` unless given), without loading the weights."""
    from vlm2_agent.policy.safe_load import zip_data

    path = Path(path)
    data = zip_data(path) if data is None else data
    module = str(dict(data.get("policy_class") or {}).get("__module__", ""))
    if module.startswith("sb3_contrib.common.recurrent"):
        return "recurrent_ppo"
    if module.startswith("stable_baselines3.common.policies"):
        return "ppo"
    raise ValueError(f"{path}: policy class module {module!r} is neither PPO's nor RecurrentPPO's")


def load_model(path: str | Path, algo: str | None = None, env=None, device: str = "cpu", trusted: bool = False):
    """Load a ``PPO`` or ``RecurrentPPO`` zip saved by :func:`build_model`'s models. ``algo``
    (``ppo`` | ``recurrent_ppo``) must match the zip's; ``None`` takes the zip's.

    Nothing in the file runs: its pickled entries are rebuilt by a restricted unpickler
    (:mod:`vlm2_agent.policy.safe_load`) that refuses any object a model of this project does not
    hold, naming it. ``trusted=True`` lets SB3 unpickle the file itself (only for files you made).

    Example:
        >>> model = load_model("outputs/train_policy/<run>/checkpoints/last.zip")  # doctest: +SKIP
    """
    from vlm2_agent.policy.safe_load import safe_custom_objects, zip_data

    data = zip_data(path)
    found = saved_algo(path, data)
    if algo is not None and algo not in ALGOS:
        raise ValueError(f"policy.algo={algo!r}: expected one of {list(ALGOS)}")
    if algo is not None and algo != found:
        raise ValueError(f"{path}: saved model is {found!r} but policy.algo is {algo!r}")
    if found == "recurrent_ppo":
        from sb3_contrib import RecurrentPPO as cls
    else:
        from stable_baselines3 import PPO as cls
    custom = None if trusted else safe_custom_objects(path, data)
    try:
        return cls.load(path, env=env, device=device, custom_objects=custom)
    except Exception as e:  # SB3 checks a saved model's fields with asserts, KeyErrors and numpy casts
        raise ValueError(f"{path}: not a loadable {found} model ({type(e).__name__}: {str(e)[:300]})") from None


class PolicyActor:
    """``act(obs, env) -> int`` for :func:`evaluate_nav` from a PPO or RecurrentPPO model, one
    unbatched observation at a time. Recurrent models carry their LSTM state between calls;
    ``reset()`` (called by ``evaluate_nav`` at each episode start) clears it.

    Example:
        >>> act = PolicyActor(load_model("last.zip"))  # doctest: +SKIP
        >>> evaluate_nav(act, cfg, episodes=10)  # doctest: +SKIP
    """

    def __init__(self, model, deterministic: bool = True):
        from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy

        self.model = model
        self.deterministic = bool(deterministic)
        self.recurrent = isinstance(model.policy, RecurrentActorCriticPolicy)
        self.state: tuple[np.ndarray, ...] | None = None
        self._episode_start = True

    def reset(self) -> None:
        """Start a new episode: the next call uses a zero LSTM state."""
        self.state = None
        self._episode_start = True

    def __call__(self, obs: dict[str, np.ndarray], env: gym.Env | None = None) -> int:
        spaces = getattr(self.model.observation_space, "spaces", None)
        if spaces is not None and set(obs) != set(spaces):  # extra keys are ignored, missing ones named
            missing = sorted(set(spaces) - set(obs))
            if missing:
                raise KeyError(f"PolicyActor: the policy needs observation keys {missing}, got {sorted(obs)}")
            obs = {k: obs[k] for k in spaces}
        if not self.recurrent:
            action, _ = self.model.predict(obs, deterministic=self.deterministic)
            return int(np.asarray(action).item())
        action, self.state = self.model.predict(obs, state=self.state, episode_start=np.array([self._episode_start]),
                                                deterministic=self.deterministic)
        self._episode_start = False
        return int(np.asarray(action).item())


__all__ = ["ALGOS", "build_model", "build_ppo", "saved_algo",
           "load_model", "PolicyActor"]
