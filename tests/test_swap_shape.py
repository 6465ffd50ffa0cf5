"""Identity shape: per-region weights and the target redrawn on the source's shape."""

from __future__ import annotations

import numpy as np
import pytest

from facestream.filters import shape
from facestream.filters.shape import (
    fit_similarity,
    region_weights,
    reshape_to_source,
    to_canonical,
    to_frame,
)
from facestream.models.landmarks import (
    FACE_OUTLINE,
    GROUPS,
    INNER_MOUTH,
    IRIS_CENTRES,
    MEAN_SHAPE,
)

REFERENCE = np.asarray(MEAN_SHAPE, np.float32)
PINNED = np.unique(np.concatenate([FACE_OUTLINE, INNER_MOUTH]))


def faces() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A target in the frame (rotated, scaled, shifted), its identity and a source's."""
    rng = np.random.default_rng(3)
    target_identity = REFERENCE + rng.normal(0, 0.01, REFERENCE.shape).astype(np.float32)
    source_identity = REFERENCE + rng.normal(0, 0.03, REFERENCE.shape).astype(np.float32)
    angle = 0.2
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = to_frame(target_identity, shape.Similarity(180.0, rot, np.array([320.0, 240.0])))
    # As `IdentityEstimate` sees it after one frame: the target's canonical shape.
    return target, to_canonical(target, fit_similarity(target, REFERENCE)), source_identity


def test_region_weights_name_groups_and_leave_the_rest_at_zero():
    w = region_weights({"nose": 1.0, "eyes": 0.5})
    assert np.all(w[GROUPS["nose"]] == 1.0) and np.all(w[GROUPS["eyes"]] == 0.5)
    others = np.setdiff1d(np.arange(len(w)), np.concatenate([GROUPS["nose"], GROUPS["eyes"]]))
    assert np.all(w[others] == 0.0)
    with pytest.raises(ValueError, match="Unknown landmark groups"):
        region_weights({"lips": 1.0})


def test_full_strength_takes_the_source_identity_and_keeps_the_pinned_points():
    target, target_identity, source_identity = faces()
    all_groups = dict.fromkeys(GROUPS, 1.0)
    out = reshape_to_source(
        target, target_identity, source_identity, REFERENCE, PINNED, 1.0, all_groups
    )
    assert np.array_equal(out[PINNED], target[PINNED])
    free = np.setdiff1d(np.arange(len(target)), PINNED)
    # The target shows no expression here (its shape is its identity), so its free points
    # land on the source's identity at the target's pose.
    # The iris centres are gaze, not identity: they keep the target's place in the redrawn
    # eye openings (`keep_gaze`), unless told otherwise.
    pose = fit_similarity(target, REFERENCE)
    shaped = np.setdiff1d(free, IRIS_CENTRES)
    assert np.allclose(to_canonical(out, pose)[shaped], source_identity[shaped], atol=1e-4)
    moved = reshape_to_source(
        target, target_identity, source_identity, REFERENCE, PINNED, 1.0, all_groups, gaze=False
    )
    assert np.allclose(to_canonical(moved, pose)[free], source_identity[free], atol=1e-4)
    zero = reshape_to_source(
        target, target_identity, source_identity, REFERENCE, PINNED, 0.0, all_groups
    )
    assert np.allclose(zero, target, atol=1e-3)


def test_a_region_at_zero_stays_on_the_target():
    target, target_identity, source_identity = faces()
    regions = dict.fromkeys(GROUPS, 1.0) | {"brows": 0.0, "mouth": 0.0}
    out = reshape_to_source(
        target, target_identity, source_identity, REFERENCE, PINNED, 1.0, regions
    )
    kept = np.concatenate([GROUPS["brows"], GROUPS["mouth"]])
    assert np.allclose(out[kept], target[kept], atol=1e-3)
    assert np.abs(out[GROUPS["nose"]] - target[GROUPS["nose"]]).max() > 1.0


def test_half_a_region_moves_half_way():
    target, target_identity, source_identity = faces()
    full = reshape_to_source(
        target, target_identity, source_identity, REFERENCE, PINNED, 1.0, {"eyes": 1.0}
    )
    half = reshape_to_source(
        target, target_identity, source_identity, REFERENCE, PINNED, 1.0, {"eyes": 0.5}
    )
    eyes = GROUPS["eyes"]
    assert np.allclose(half[eyes] - target[eyes], 0.5 * (full[eyes] - target[eyes]), atol=1e-3)


def test_the_module_regions_are_read_at_call_time(monkeypatch):
    target, target_identity, source_identity = faces()
    monkeypatch.setattr(shape, "IDENTITY_REGIONS", {"nose": 1.0})
    out = reshape_to_source(target, target_identity, source_identity, REFERENCE, PINNED)
    moved = np.flatnonzero(np.abs(out - target).max(axis=1) > 1e-3)
    assert set(moved) <= set(GROUPS["nose"]) and len(moved) > 0


def test_the_shipped_regions_name_every_group_and_keep_the_target_lips():
    assert set(shape.IDENTITY_REGIONS) == set(GROUPS)
    target, target_identity, source_identity = faces()
    out = reshape_to_source(target, target_identity, source_identity, REFERENCE, PINNED)
    mouth = GROUPS["mouth"]
    assert np.allclose(out[mouth], target[mouth], atol=1e-3)
    assert np.abs(out[GROUPS["nose"]] - target[GROUPS["nose"]]).max() > 1.0
