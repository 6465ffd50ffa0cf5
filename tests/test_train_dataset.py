"""Training samples from a tiny synthetic label cache: targets, weights, crops, epoch plans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from train_cache import write_cache

from facestream.models.crops import apply_affines, crop_from_landmarks, invert_affines
from facestream.models.landmarks import NUM_POINTS
from facestream.models.train.augment import NO_AUGMENT, AugmentConfig
from facestream.models.train.dataset import (
    LandmarkDataset,
    PlanBatchSampler,
    epoch_plan,
    is_held_out,
    sample_from_label,
)
from facestream.models.train.label_store import load_labels

SIZE = 64


def test_samples_from_label_cache(tmp_path: Path) -> None:
    items = load_labels(write_cache(tmp_path), kinds=["faces300w"])
    samples = [sample_from_label(it) for it in items]
    assert len(samples) == 4
    s = samples[0]
    assert s.points.shape == (NUM_POINTS, 2) and s.weight.shape == (NUM_POINTS,)
    np.testing.assert_array_equal(s.points[:68], items[0].ibug68)
    # Human iBUG labels weigh more than the teacher's extra points.
    assert (s.weight[:68] > s.weight[68:].max()).all()


def test_dataset_items_are_seeded_and_consistent(tmp_path: Path) -> None:
    items = load_labels(write_cache(tmp_path), kinds=["faces300w"])
    samples = [sample_from_label(it) for it in items]
    plain = LandmarkDataset(samples, SIZE, NO_AUGMENT)
    item = plain[(1, 0)]
    assert item["image"].shape == (3, SIZE, SIZE) and str(item["image"].dtype) == "torch.uint8"
    # Without augmentation the points are the engine's crop of the labels.
    crop_to_frame = crop_from_landmarks(samples[1].points[None])
    expected = apply_affines(invert_affines(crop_to_frame), samples[1].points[None])[0]
    np.testing.assert_allclose(item["points"].numpy(), expected, atol=1e-5)
    augmented = LandmarkDataset(samples, SIZE, AugmentConfig())
    a, b = augmented[(2, 77)], augmented[(2, 77)]
    assert (a["image"] == b["image"]).all() and (a["points"] == b["points"]).all()
    assert not (augmented[(2, 78)]["points"] == a["points"]).all()


def test_epoch_plan_is_deterministic_and_resumable() -> None:
    kinds = ["faces300w"] * 10 + ["stills"] * 4 + ["videos"] * 6
    plan = epoch_plan(kinds, seed=1, epoch=0)
    np.testing.assert_array_equal(plan, epoch_plan(kinds, seed=1, epoch=0))
    assert not np.array_equal(plan, epoch_plan(kinds, seed=1, epoch=1))
    # faces300w twice, stills once, half the videos.
    assert len(plan) == 20 + 4 + 3
    assert len(np.unique(plan[:, 1])) == len(plan)
    batches = list(PlanBatchSampler(plan, 4))
    assert list(PlanBatchSampler(plan, 4, start=2)) == batches[2:]


def test_points_far_outside_get_no_weight(tmp_path: Path) -> None:
    items = load_labels(write_cache(tmp_path), kinds=["faces300w"])
    sample = sample_from_label(items[0])
    # The crop follows the eyes, nose and mouth: a jaw thrown far away leaves it.
    sample.points[:17] += 1000
    item = LandmarkDataset([sample], SIZE, NO_AUGMENT)[(0, 0)]
    p, w = item["points"].numpy(), item["weight"].numpy()
    far = ((p < -0.1) | (p > 1.1)).any(1)
    assert far[:17].all() and (w[far] == 0).all() and (w[~far] > 0).all()


def test_temporal_benchmark_clips_are_held_out(tmp_path: Path) -> None:
    from dataclasses import replace

    item = load_labels(write_cache(tmp_path), kinds=["faces300w"])[0]
    video = replace(item, kind="videos", source="videos/retalking/1.mp4", frame=4)
    assert is_held_out(video)
    assert not is_held_out(replace(video, source="videos/retalking/2.mp4"))
    assert not is_held_out(item)
