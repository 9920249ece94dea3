"""VLM2: a vision-language model with persistent memory for spatial reasoning from egocentric video."""

__version__ = "0.1.0"
