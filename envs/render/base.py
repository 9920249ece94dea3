"""The interface every render backend implements (moderngl here, habitat-sim where it installs).

Observation contract, per sensor uuid:

* ``rgb``: (H, W, 3) uint8;
* ``depth``: (H, W) float32, z-depth in metres along the optical axis, **0 where nothing was hit**
  within [near, far];
* ``semantic``: (H, W) int32 instance ids, 0 (``scenes.types.BACKGROUND_ID``) for structure and
  background.

Row 0 is the top of the image. Every call returns freshly allocated arrays the caller owns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from envs.config import SensorSpec


class RenderBackend(ABC):
    """Renders sensors of one scene from a given camera pose."""

    @abstractmethod
    def render(self, camera_to_world: np.ndarray, sensors: Sequence[SensorSpec]) -> dict[str, np.ndarray]:
        """Observations ``{uuid: image}`` of ``sensors`` seen from ``camera_to_world`` (4x4, OpenGL camera).

        All ``sensors`` of one call are mounted at that camera pose (their ``position`` is already
        folded into the matrix by the caller); they may differ in type, resolution and hfov.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the rendering context and everything uploaded. Safe to call twice."""

    def __enter__(self) -> RenderBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
