"""Agent pose convention shared by every backend (habitat-lab's).

World frame: Y up, metres, the floor plan in (x, z).

Agent pose = ``position`` (x, y_floor, z), the point on the floor under the agent's centre, plus
``heading``, a yaw in radians about +Y:

* heading 0 looks along -Z;
* positive heading turns left, i.e. counter-clockwise seen from above (looking down -Y), exactly as
  habitat-sim's ``turn_left`` rotates the agent about +Y by +angle. Heading pi/2 looks along -X.
* ``heading_to_quaternion`` gives that rotation as ``[x, y, z, w]`` (scalar last): the order of
  habitat-lab's episode files (``start_rotation``) and of ``habitat_sim.utils.common.quat_from_coeffs``.
  habitat-lab's ``HeadingSensor`` reads the same angle back from it.

Cameras use the OpenGL convention: x right, y up, looking along -Z of the camera frame. A sensor is
mounted at ``sensor_offset`` (metres, in the agent frame: x right, y up, z backwards; habitat's default
camera height is ``(0, 1.25, 0)``) and shares the agent's heading. So

    camera_to_world = T(position) @ R_y(heading) @ T(sensor_offset)

Example:
    >>> import numpy as np
    >>> m = camera_to_world([1.0, 0.0, 2.0], np.pi / 2, (0.0, 1.25, 0.0))
    >>> m[:3, 3].round(3).tolist(), ((m[:3, :3] @ [0, 0, -1]).round(3) + 0.0).tolist()  # looks along -X
    ([1.0, 1.25, 2.0], [-1.0, 0.0, 0.0])
    >>> heading_to_quaternion(np.pi).round(3).tolist()
    [0.0, 1.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ArrayLike3 = Sequence[float] | np.ndarray


def wrap_angle(angle: float) -> float:
    """``angle`` wrapped into [-pi, pi)."""
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


def yaw_matrix(heading: float) -> np.ndarray:
    """3x3 rotation about +Y by ``heading`` radians (counter-clockwise seen from above)."""
    c, s = np.cos(heading), np.sin(heading)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def heading_to_quaternion(heading: float) -> np.ndarray:
    """The yaw ``heading`` as a unit quaternion in habitat's ``[x, y, z, w]`` order, float64 (4,)."""
    return np.array([0.0, np.sin(heading / 2), 0.0, np.cos(heading / 2)])


def quaternion_to_heading(quaternion: ArrayLike3) -> float:
    """Inverse of :func:`heading_to_quaternion` for ``[x, y, z, w]``; any tilt out of yaw is ignored.

    It rotates -Z by the quaternion and measures the yaw of the result, as habitat-lab's
    ``HeadingSensor`` does, so it also works for quaternions that are not pure yaw.
    """
    x, y, z, w = np.asarray(quaternion, float)
    # Third column of the rotation matrix (image of +Z), negated: image of -Z.
    fx = -(2 * (x * z + w * y))
    fz = -(1 - 2 * (x * x + y * y))
    return wrap_angle(float(np.arctan2(-fx, -fz)))


def forward_vector(heading: float) -> np.ndarray:
    """Unit vector the agent looks along, in world coordinates: (-sin h, 0, -cos h)."""
    return np.array([-np.sin(heading), 0.0, -np.cos(heading)])


def agent_to_world(position: ArrayLike3, heading: float) -> np.ndarray:
    """4x4 transform from the agent's frame (origin on the floor) to the world."""
    m = np.eye(4)
    m[:3, :3] = yaw_matrix(heading)
    m[:3, 3] = _vec3(position, "position")
    return m


def camera_to_world(
    position: ArrayLike3, heading: float, sensor_offset: ArrayLike3 = (0.0, 1.25, 0.0)
) -> np.ndarray:
    """4x4 camera-to-world matrix (OpenGL camera: x right, y up, looks along -Z) of a sensor."""
    m = agent_to_world(position, heading)
    m[:3, 3] += m[:3, :3] @ _vec3(sensor_offset, "sensor_offset")
    return m


def pose_vector(position: ArrayLike3, heading: float) -> np.ndarray:
    """The ``pose`` observation: float32 ``[x, y_floor, z, heading]`` with heading in [-pi, pi)."""
    p = _vec3(position, "position")
    return np.array([p[0], p[1], p[2], wrap_angle(heading)], dtype=np.float32)


def _vec3(value: ArrayLike3, name: str) -> np.ndarray:
    v = np.asarray(value, dtype=float)
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be 3 finite numbers (x, y, z), got {value!r}")
    return v
