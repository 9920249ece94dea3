"""The Hydra config tree of vlm2 (``pkg://configs``), and the typed schemas of its groups.

Hydra imports this package when it reads the tree, so the schemas below are in its ConfigStore
before any preset is composed; a preset names its schema first in its ``defaults`` list, and Hydra
then rejects unknown keys and wrongly typed values with the key's full name:

| group | schema (ConfigStore name) | dataclass |
|---|---|---|
| ``policy`` | ``policy/schema`` | :class:`vlm2_agent.policy.config.PolicyConfig` |
| ``scene`` | ``scene/schema`` | :class:`scenes.config.SceneDatasetConfig` |
| ``memory`` | ``memory/schema`` | :class:`vlm2_agent.model.memory_config.MemoryConfig` |
| ``train`` | ``train_schema`` (package ``train``, first in ``train.yaml``'s defaults: the presets are global) | :class:`vlm2_agent.training.config.TrainConfig` |

The console scripts' own top-level keys have schemas too (:mod:`configs.apps`, e.g. ``train_policy_app``
first in ``train_policy.yaml``'s defaults).
"""

from hydra.core.config_store import ConfigStore

from configs.apps import APP_SCHEMAS
from scenes.config import SceneDatasetConfig
from vlm2_agent.model.memory_config import MemoryConfig
from vlm2_agent.policy.config import PolicyConfig
from vlm2_agent.training.config import TrainConfig

_store = ConfigStore.instance()
_store.store(group="policy", name="schema", node=PolicyConfig)
_store.store(group="scene", name="schema", node=SceneDatasetConfig)
_store.store(group="memory", name="schema", node=MemoryConfig)
_store.store(name="train_schema", node=TrainConfig, package="train")
for _name, _schema in APP_SCHEMAS.items():  # the apps' top-level keys (configs/apps.py)
    _store.store(name=_name, node=_schema)
