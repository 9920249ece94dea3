"""VLM2 model: configuration, modules, tokenizer and the streaming API.

The names below are imported on first use (PEP 562), so that ``vlm2_agent.model.memory_config``
can be read, e.g. by the config tree, without loading torch and transformers.

Example:
    >>> from vlm2_agent.model import VLM2Config, VLM2Model, VLM2Streamer, build_tokenizer
"""

from importlib import import_module

_EXPORTS = {
    "VLM2Config": "configuration_vlm2", "MemoryConfig": "memory_config",
    "autocast_context": "device", "select_device": "device",
    "camera_points": "geometry", "geometry_loss": "geometry",
    "MemoryState": "memory", "episodic_update": "memory", "fifo_push": "memory",
    "FrameEncoding": "modeling_vlm2", "VLM2Model": "modeling_vlm2", "VLM2Output": "modeling_vlm2",
    "VLM2Streamer": "streaming",
    "build_tokenizer": "tokenizer", "prompt_batch": "tokenizer", "training_batch": "tokenizer",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
