"""Question generation from a recorded episode and the scene's annotations.

Each question type has its own generator (see :mod:`.measurement`, :mod:`.configuration`,
:mod:`.route`, :mod:`.temporal`, :mod:`.vsti` for their rules). Every type draws from its own random
stream seeded by ``(seed, type name)``, so the same seed gives the same questions, and asking for a
subset of types gives the same questions for those types.

Example:
    >>> from vlm2_agent.eqa.questions import GENERATORS
    >>> len(GENERATORS)
    19
"""

from __future__ import annotations

import zlib
from typing import Callable

import numpy as np

from envs.episode_log import EpisodeLog
from scenes.types import Scene

from ..question import Question
from ..tasks import expand_types
from . import configuration, measurement, route, temporal, vsti
from .common import Context, GenConfig, PathFn

#: Version of the question generators' rules; part of every split's manifest and build key.
GENERATOR_VERSION = 3

Generator = Callable[[Context, np.random.Generator, int], list[Question]]

GENERATORS: dict[str, Generator] = {
    "object_counting": measurement.object_counting,
    "object_abs_distance": measurement.object_abs_distance,
    "object_size_estimation": measurement.object_size_estimation,
    "room_size_estimation": measurement.room_size_estimation,
    "object_rel_distance": configuration.object_rel_distance,
    "object_rel_direction_easy": configuration.object_rel_direction_easy,
    "object_rel_direction_medium": configuration.object_rel_direction_medium,
    "object_rel_direction_hard": configuration.object_rel_direction_hard,
    "route_planning": route.route_planning,
    "obj_appearance_order": temporal.obj_appearance_order,
    "camera_obj_abs_dist": vsti.camera_obj_abs_dist,
    "camera_displacement": vsti.camera_displacement,
    "camera_movement_direction": vsti.camera_movement_direction,
    "obj_obj_relative_pos_nf": vsti.obj_obj_relative_pos_nf,
    "obj_obj_relative_pos_lr": vsti.obj_obj_relative_pos_lr,
    "obj_obj_relative_pos_ud": vsti.obj_obj_relative_pos_ud,
    "camera_obj_rel_dist_v1": vsti.camera_obj_rel_dist_v1,
    "camera_obj_rel_dist_v2": vsti.camera_obj_rel_dist_v2,
    "camera_obj_rel_dist_v3": vsti.camera_obj_rel_dist_v3,
}


def generate_questions(
    scene: Scene,
    episode_log: EpisodeLog,
    seed: int,
    types: list[str] | None = None,
    max_per_type: int = 4,
    config: GenConfig | None = None,
    path_fn: PathFn | None = None,
) -> list[Question]:
    """Questions about what ``episode_log``'s video shows of ``scene``.

    ``types``: question types, task names or ``"vsi"``/``"vsti"`` (default all 19 types);
    ``max_per_type``: at most this many questions per question type; ``path_fn(a, b)`` returns the
    geodesic path between two 3-D points as ``(x, z)`` points, used by route planning.
    """
    if episode_log.scene_id != scene.scene_id:
        raise ValueError(f"episode_log.scene_id {episode_log.scene_id!r} does not match scene {scene.scene_id!r}")
    if max_per_type < 0:
        raise ValueError(f"max_per_type must be >= 0, got {max_per_type}")
    ctx = Context(scene, episode_log, config or GenConfig(), path_fn)
    out: list[Question] = []
    for qtype in expand_types(types):
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(qtype.encode())])
        out += GENERATORS[qtype](ctx, rng, max_per_type)
    return out


__all__ = ["GENERATOR_VERSION", "GENERATORS", "GenConfig", "generate_questions"]
