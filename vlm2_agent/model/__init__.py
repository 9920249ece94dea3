"""VLM2 model: configuration, modules, tokenizer and the streaming API.

Example:
    >>> from vlm2_agent.model import VLM2Config, VLM2Model, VLM2Streamer, build_tokenizer
"""

from .configuration_vlm2 import VLM2Config
from .device import autocast_context, select_device
from .geometry import camera_points, geometry_loss
from .memory import MemoryState, episodic_update, fifo_push
from .modeling_vlm2 import FrameEncoding, VLM2Model, VLM2Output
from .streaming import VLM2Streamer
from .tokenizer import build_tokenizer, prompt_batch, training_batch

__all__ = ["VLM2Config", "VLM2Model", "VLM2Output", "FrameEncoding", "VLM2Streamer", "MemoryState",
           "build_tokenizer", "training_batch", "prompt_batch", "camera_points", "geometry_loss",
           "fifo_push", "episodic_update", "select_device", "autocast_context"]
