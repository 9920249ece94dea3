"""VLM2: a vision-language model with persistent memory for spatial reasoning from egocentric video.

Importing the package registers the ``vlm2`` model type with transformers' ``AutoConfig`` and
``AutoModel`` (:mod:`vlm2_agent.model.auto`).
"""

__version__ = "0.1.0"

from vlm2_agent.model.auto import register_auto_classes as _register_auto_classes  # noqa: E402

_register_auto_classes()
