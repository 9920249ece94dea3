"""Memory-guided object search: the frontier of a hand-built map, the visibility test against a
hand-made depth image, and the goal estimate read from a hand-built memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.navigation import NavGrid
from envs.render.camera import intrinsics
from vlm2_agent.policy.object_search import ExplorationMap, best_entry


def grid(navigable: np.ndarray, cell: float = 0.1) -> NavGrid:
    h, w = navigable.shape
    return NavGrid(navigable, navigable.copy(), ~navigable, np.zeros(2), cell, 0.0, 0.1, 1.5, 0.2)


def test_frontier_of_a_hand_built_map_is_the_door_to_the_unseen_room():
    # 10 x 10 cells of 0.1 m; a wall along column 5 with a door in rows 8-9; the left room is seen
    free = np.ones((10, 10), bool)
    free[:8, 5] = False
    m = ExplorationMap(grid(free))
    m.seen[:, :5] = True
    expected = np.zeros((10, 10), bool)
    expected[8:, 4] = True  # seen, free, beside the free unseen door cells
    assert np.array_equal(m.frontier(), expected)
    # from row 8, column 1, facing +x (heading -90 deg), the cheapest frontier is the door cell ahead
    start = m.grid.grid_to_world(np.array([[8, 1]]))[0]
    target = m.nearest_frontier(start, heading=-np.pi / 2)
    assert np.allclose(target, m.grid.grid_to_world(np.array([[8, 4]]))[0])
    m.seen[:] = True
    assert not m.frontier().any() and m.nearest_frontier(start) is None


def test_cells_are_seen_up_to_the_surface_in_the_depth_image_and_not_behind_it():
    # a 4 m x 4 m floor; the camera at x = 2, z = 3.5, 1 m up, looking along -z (heading 0) at a
    # wall 2 m ahead (z = 1.5): a constant z-depth of 2 m
    m = ExplorationMap(grid(np.ones((40, 40), bool)), max_range=3.0)
    c2w = np.eye(4)
    c2w[:3, 3] = [2.0, 1.0, 3.5]
    m.observe(np.full((32, 32), 2.0), intrinsics(90.0, 32, 32), c2w)

    def seen(x, z):
        r, c = m.grid.world_to_grid(np.array([[x, 0.0, z]]))[0]
        return bool(m.seen[r, c])

    assert seen(2.05, 2.55) and seen(2.05, 1.65) and seen(1.15, 2.45)  # in front of the wall, in the 90 deg view
    assert not seen(2.05, 1.25) and not seen(2.05, 0.35)  # behind the wall
    assert not seen(0.25, 3.05) and not seen(2.05, 3.95)  # outside the view, behind the camera
    # hand count: cells whose centre lies 0 < depth <= 2.1 m ahead and within the 45 deg half-angle
    centres = m.grid.grid_to_world(np.argwhere(np.ones((40, 40), bool)))
    depth = 3.5 - centres[:, 2]
    lateral = np.abs(centres[:, 0] - 2.0)
    inside = (depth > 0) & (depth <= 2.1) & (lateral < depth)
    assert abs(int(m.seen.sum()) - int(inside.sum())) <= 0.05 * inside.sum()


def test_goal_estimate_from_a_hand_built_memory():
    # three entries, a classifier that reads class k off token dimension k (0 = no object)
    head = torch.nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.eye(3) * 6.0)
    tokens = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 2]], np.float32)  # entry 2 shows category 1 best...
    coords = np.array([[0, 0, -1, 1.0], [1.0, 0.5, -2.0, 0.8], [3, 0, -3, 0.0]], np.float32)  # ...but has no geometry
    mask = np.array([True, True, True])
    c2w = np.eye(4)
    c2w[:3, :3] = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]  # the first camera turned 90 deg left
    c2w[:3, 3] = [10.0, 1.25, 5.0]
    point, score = best_entry(tokens, coords, mask, head, category=1, first_camera_to_world=c2w)
    # R @ (1, 0.5, -2) = (-2, 0.5, -1), plus the camera's position
    assert np.allclose(point, [8.0, 1.75, 4.0])
    assert score == pytest.approx(np.exp(6) / (np.exp(6) + 2))
    assert best_entry(tokens, coords, mask, head, 1, c2w, threshold=0.999)[0] is None  # below the threshold
    assert np.allclose(best_entry(tokens, coords, mask, head, 0, c2w)[0], c2w[:3, 3] + c2w[:3, :3] @ [0, 0, -1])
    assert best_entry(tokens, coords, np.zeros(3, bool), head, 1, c2w) == (None, 0.0)  # an empty memory


def test_vote_read_prefers_many_agreeing_views_to_one_confident_entry():
    # four views of a sofa near (0, 0, -2), each fairly sure; one entry 3 m away very sure
    head = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.eye(2))
    sure = lambda p: [0.0, float(np.log(p / (1 - p)))]  # noqa: E731  (softmax of (0, logit) gives p)
    tokens = np.array([sure(0.6), sure(0.6), sure(0.6), sure(0.6), sure(0.95)], np.float32)
    coords = np.array([[0.1, 0, -2.0, 1], [-0.1, 0, -2.0, 1], [0.0, 0, -1.8, 1], [0.0, 0, -2.2, 1], [3.0, 0, -2.0, 1]],
                      np.float32)
    mask = np.ones(5, bool)
    point, score = best_entry(tokens, coords, mask, head, 0, np.eye(4), threshold=0.5, read="max")
    assert np.allclose(point, [3.0, 0, -2.0]) and score == pytest.approx(0.95)
    point, score = best_entry(tokens, coords, mask, head, 0, np.eye(4), threshold=0.5, read="vote")
    assert np.allclose(point, [0.0, 0.0, -2.0], atol=1e-6) and score == pytest.approx(0.6)  # the views' mean
    assert best_entry(tokens, coords, mask, head, 0, np.eye(4), threshold=0.7, read="vote")[0] is None
    with pytest.raises(ValueError, match="read must be one of"):
        best_entry(tokens, coords, mask, head, 0, np.eye(4), read="mean")
