"""Registration of ``vlm2`` with transformers' Auto classes.

After ``import vlm2_agent``, ``AutoConfig`` and ``AutoModel`` know the ``vlm2`` model type, so a
checkpoint saved by ``VLM2Model.save_pretrained`` loads the way any transformers model does, with
no ``trust_remote_code`` (nothing in a checkpoint folder is ever executed).

Example:
    >>> import vlm2_agent
    >>> from transformers import AutoConfig
    >>> type(AutoConfig.for_model("vlm2", memory_mode="working")).__name__
    'VLM2Config'
"""

from __future__ import annotations


def register_auto_classes() -> None:
    """Register ``VLM2Config`` and ``VLM2Model`` (idempotent)."""
    from transformers import AutoConfig, AutoModel
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from .configuration_vlm2 import VLM2Config
    from .modeling_vlm2 import VLM2Model

    if VLM2Config.model_type not in CONFIG_MAPPING:
        AutoConfig.register(VLM2Config.model_type, VLM2Config)
    try:
        AutoModel.register(VLM2Config, VLM2Model)
    except ValueError:  # already registered by an earlier call
        pass
