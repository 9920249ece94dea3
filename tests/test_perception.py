"""Semantic perception training: patch labels from the semantic sensor, and training that learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vlm2_agent.policy.backbone import build_backbone
from vlm2_agent.training.perception import patch_accuracy, patch_labels, render_frames, train_semantic

pytestmark = pytest.mark.usefixtures("single_torch_thread")

VLM2_SMALL = {"geometry_source": "oracle", "hidden_size": 32, "geometry_dim": 16, "num_heads": 2,
              "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                                "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32,
                                "patch_size": 8, "vision_use_head": False}}


def test_patch_labels_on_a_hand_built_frame():
    sem = np.zeros((8, 8), np.int64)
    sem[:4, :4] = 3     # top-left patch: all instance 3 (category 0) -> label 1
    sem[:4, 4:5] = 4    # top-right: instance 4 covers 4/16 = 25% -> label of category 7 = 8
    sem[4:, :4] = 9     # bottom-left: an instance without a category (a door) -> 0
    sem[4:6, 4:] = 3    # bottom-right: 8/16 of instance 3 ...
    sem[6:, 4:6] = 4    # ... beats 4/16 of instance 4 -> label 1
    assert patch_labels(sem, {3: 0, 4: 7}, grid=2).tolist() == [[1, 8], [0, 1]]
    with pytest.raises(ValueError, match="does not split"):
        patch_labels(sem[:7], {3: 0}, grid=2)


def test_rendered_labels_match_the_semantic_frames_and_training_learns():
    frames = render_frames("train", num_scenes=1, views_per_scene=16, grid=4, resolution=64, seed=0, progress=False)
    assert frames.rgb.shape == (16, 64, 64, 3) and frames.labels.shape == (16, 4, 4)
    assert (frames.labels > 0).any() and (frames.labels == 0).any()
    np.testing.assert_array_equal(frames.ref_pose[0], frames.cam_to_world[0])  # the scene's first view is its reference
    torch.manual_seed(0)
    model = build_backbone(VLM2_SMALL, seed=0)
    head, losses = train_semantic(model, frames, num_categories=30, steps=150, batch_size=16, lr=3e-3, progress=False)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    acc = patch_accuracy(model, head, frames)
    assert acc["accuracy"] > acc["no_object_baseline"] and acc["object_accuracy"] > 0.5  # fits its training views


def test_stage1_dense_losses_fall_on_a_small_fixed_set():
    from vlm2_agent.training.dense import DenseConfig, cross_view_loss, evaluate_dense, train_dense

    frames = render_frames("train", num_scenes=2, views_per_scene=8, grid=4, resolution=64, seed=0, progress=False)
    assert frames.instances.shape == (16, 4, 4) and frames.scene.tolist() == [0] * 8 + [1] * 8
    assert ((frames.instances > 0) == (frames.labels > 0)).all()  # an object patch has its instance
    assert (frames.patch_depth > 0).all()  # every patch sees a wall, floor or object at 64x64
    model = build_backbone(VLM2_SMALL, seed=0)
    heads, curve = train_dense(model, frames, 30, DenseConfig(steps=160, scenes=2, views=4, lr=3e-3),
                               progress=False, log_every=20)
    for name in ("category", "depth", "instance", "loss"):
        assert curve[-1][name] < 0.7 * curve[0][name], (name, curve[0][name], curve[-1][name])
    scores = evaluate_dense(model, heads, frames)
    assert scores["accuracy"] > scores["no_object_baseline"] and scores["depth_abs_rel"] < 0.3
    assert scores["reid_anchors"] > 0 and scores["reid_accuracy"] > 0.5
    # the cross-view loss: zero-ish when instances cluster across views, large when they are swapped
    emb = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [1, 0.05], [0, 1], [0.05, 1]]), dim=1)
    views = torch.tensor([0, 1, 0, 1])
    assert cross_view_loss(emb, torch.tensor([1, 1, 2, 2]), views) < 0.01
    assert cross_view_loss(emb, torch.tensor([1, 2, 2, 1]), views) > 5
