"""Wrappers for the VLM2 environments.

Example:
    >>> from envs.wrappers import RecordEpisode, visible_counts
"""

from envs.wrappers.recorder import RecordEpisode, visible_counts

__all__ = ["RecordEpisode", "visible_counts"]
