"""Load stable-baselines3 zips without running code from them.

An SB3 ``.zip`` keeps its weights as ``.pth`` files (SB3 reads those with ``weights_only=True``)
and, in its ``data`` entry, objects pickled with cloudpickle: the observation and action spaces,
the policy class and its kwargs, schedules, buffers. Unpickling runs whatever a crafted file
names, so :func:`safe_custom_objects` unpickles those entries itself with an unpickler that only
builds the classes and functions a model of this project holds (gymnasium spaces, numpy arrays and
generators, SB3 / sb3-contrib policies, buffers and schedules, this project's extractors, torch
activations) and hands them to ``PPO.load`` as ``custom_objects``, so SB3 unpickles nothing.
Anything else is refused with :class:`UntrustedModelError`, naming the field and the global; a
user who made the file can pass ``trusted=True``.

Example:
    >>> import io, pickle, os
    >>> restricted_loads(pickle.dumps([1.5, "a"]))
    [1.5, 'a']
    >>> restricted_loads(pickle.dumps(os.system), where="data['policy_kwargs']")
    Traceback (most recent call last):
    ...
    vlm2_agent.policy.safe_load.UntrustedModelError: data['policy_kwargs']: refuses to unpickle posix.system, which ...
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

#: (module, name) pairs the unpickler may build. Each is a class or a pure constructor whose
#: arguments come from the file, so none of them can run a command or touch a file.
ALLOWED: frozenset[tuple[str, str]] = frozenset({
    *((m, n) for m in ("numpy", "numpy._core.multiarray", "numpy.core.multiarray") for n in ("dtype", "ndarray")),
    *((m, "_frombuffer") for m in ("numpy._core.numeric", "numpy.core.numeric")),
    *((m, n) for m in ("numpy._core.multiarray", "numpy.core.multiarray") for n in ("_reconstruct", "scalar")),
    ("numpy.random._pickle", "__generator_ctor"), ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"), ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._mt19937", "MT19937"), ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("numpy.random.bit_generator", "SeedSequence"),
    *(("gymnasium.spaces." + m, n) for m, n in (("box", "Box"), ("dict", "Dict"), ("discrete", "Discrete"),
                                               ("multi_discrete", "MultiDiscrete"), ("multi_binary", "MultiBinary"),
                                               ("tuple", "Tuple"))),
    ("collections", "deque"), ("collections", "OrderedDict"),
    *(("stable_baselines3.common.utils", n) for n in ("FloatSchedule", "ConstantSchedule", "LinearSchedule")),
    *(("stable_baselines3.common.policies", n) for n in ("ActorCriticPolicy", "ActorCriticCnnPolicy",
                                                          "MultiInputActorCriticPolicy")),
    *(("stable_baselines3.common.buffers", n) for n in ("RolloutBuffer", "DictRolloutBuffer")),
    *(("stable_baselines3.common.torch_layers", n) for n in ("CombinedExtractor", "NatureCNN", "FlattenExtractor")),
    *(("sb3_contrib.common.recurrent.policies", n) for n in ("RecurrentActorCriticPolicy",
                                                             "RecurrentActorCriticCnnPolicy",
                                                             "RecurrentMultiInputActorCriticPolicy")),
    *(("sb3_contrib.common.recurrent.buffers", n) for n in ("RecurrentRolloutBuffer", "RecurrentDictRolloutBuffer")),
    *(("vlm2_agent.policy.extractor", n) for n in ("VLM2FeaturesExtractor", "RGBDCNNExtractor")),
    *(("torch.nn.modules.activation", n) for n in ("ReLU", "Tanh", "ELU", "GELU", "LeakyReLU", "SiLU")),
    *(("torch.optim." + m, n) for m, n in (("adam", "Adam"), ("adamw", "AdamW"), ("rmsprop", "RMSprop"))),
})


class UntrustedModelError(ValueError):
    """A model file holds a pickled object outside :data:`ALLOWED`; the message names field and global."""


class _Restricted(pickle.Unpickler):
    def __init__(self, data: bytes, where: str):
        super().__init__(io.BytesIO(data))
        self.where = where

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED:
            raise UntrustedModelError(
                f"{self.where}: refuses to unpickle {module}.{name}, which a model of this project does not hold "
                "(a pickled object can run code when loaded). Load the file with trusted=True only if you made it.")
        return super().find_class(module, name)


def restricted_loads(data: bytes, where: str = "pickle") -> Any:
    """``pickle.loads`` that builds only :data:`ALLOWED` globals."""
    return _Restricted(data, where).load()


def zip_data(path: str | Path) -> dict[str, Any]:
    """The JSON ``data`` entry of an SB3 model zip (class parameters; nothing is unpickled)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("data"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a stable-baselines3 model zip ({e})") from e


def safe_custom_objects(path: str | Path, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every cloudpickled entry of the zip's ``data`` (read from ``path`` unless given), unpickled
    by :func:`restricted_loads`, for ``PPO.load(path, custom_objects=...)``."""
    path = Path(path)
    data = zip_data(path) if data is None else data
    out = {}
    for key, item in data.items():
        if isinstance(item, dict) and ":serialized:" in item:
            try:
                raw = base64.b64decode(str(item[":serialized:"]).encode())
            except ValueError as e:
                raise ValueError(f"{path}: data[{key!r}] is not base64 ({e})") from e
            try:
                out[key] = restricted_loads(raw, where=f"{path}: data[{key!r}]")
            except UntrustedModelError:
                raise
            except Exception as e:  # a truncated or malformed pickle
                raise ValueError(f"{path}: data[{key!r}] could not be unpickled ({type(e).__name__}: {e})") from e
    return out


__all__ = ["ALLOWED", "UntrustedModelError", "restricted_loads", "safe_custom_objects", "zip_data"]
