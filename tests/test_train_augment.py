"""Augmentation keeps the points on the image content they label (flip, rotation, scale)."""

from __future__ import annotations

import numpy as np
import pytest

from facestream.models.landmarks import FLIP_PERMUTATION, NUM_POINTS
from facestream.models.train.augment import (
    NO_AUGMENT,
    AugmentConfig,
    jitter_matrix,
    photometric,
    warp_crop,
)

SIZE = 96


def dotted_image(points: np.ndarray, colours: np.ndarray, shape=(200, 240)) -> np.ndarray:
    image = np.zeros((*shape, 3), np.uint8)
    for (x, y), c in zip(points.round().astype(int), colours, strict=True):
        image[y - 2 : y + 3, x - 2 : x + 3] = c
    return image


@pytest.mark.parametrize("flip", [False, True])
def test_warp_moves_points_with_the_image(flip: bool) -> None:
    rng = np.random.default_rng(3)
    points = rng.uniform(40, 160, (NUM_POINTS, 2)).astype(np.float32)
    keep = np.arange(0, NUM_POINTS, 16)  # a few well-separated dots
    colours = rng.integers(60, 255, (len(keep), 3))
    image = dotted_image(points[keep], colours)
    crop_m = np.array([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1]])  # 200 px -> 100 px
    cfg = AugmentConfig(scale=0.1, shift=0.05, rotation_deg=15)
    m = jitter_matrix(rng, SIZE, cfg, flip) @ crop_m
    crop, moved = warp_crop(image, points, m, SIZE, FLIP_PERMUTATION if flip else None)
    # With a flip, output point i is the mirror of input point FLIP_PERMUTATION[i].
    source_of = FLIP_PERMUTATION if flip else np.arange(NUM_POINTS)
    checked = 0
    for out_index in range(NUM_POINTS):
        src = source_of[out_index]
        if src not in keep:
            continue
        x, y = moved[out_index].round().astype(int)
        if not (1 <= x < SIZE - 1 and 1 <= y < SIZE - 1):
            continue
        colour = colours[list(keep).index(src)]
        patch = crop[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(int)
        assert np.abs(patch - colour).sum(1).min() < 60, (out_index, patch, colour)
        checked += 1
    assert checked >= 4


def test_flip_keeps_sides() -> None:
    # A mirrored face keeps the subject's right eye (36-41) on the image's left.
    points = np.zeros((NUM_POINTS, 2), np.float32)
    points[:, 0] = np.linspace(10, 80, NUM_POINTS)
    points[36], points[45] = (30, 40), (70, 40)
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    flip_m = jitter_matrix(np.random.default_rng(0), SIZE, NO_AUGMENT, flip=True)
    _, moved = warp_crop(image, points, flip_m, SIZE, FLIP_PERMUTATION)
    assert moved[36, 0] < moved[45, 0]
    np.testing.assert_allclose(moved[36], (SIZE - 1 - 70, 40), atol=1e-4)


def test_no_augment_is_identity() -> None:
    m = jitter_matrix(np.random.default_rng(0), SIZE, NO_AUGMENT, flip=False)
    np.testing.assert_allclose(m, np.eye(3), atol=1e-12)
    crop = np.random.default_rng(1).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    np.testing.assert_array_equal(photometric(crop, np.random.default_rng(2), NO_AUGMENT), crop)


def test_photometric_is_seeded_and_keeps_shape() -> None:
    crop = np.random.default_rng(1).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    everything = AugmentConfig(
        colour_p=1, gamma_p=1, blur_p=1, motion_blur_p=1, noise_p=1, jpeg_p=1, occluder_p=1
    )
    a = photometric(crop, np.random.default_rng(5), everything)
    b = photometric(crop, np.random.default_rng(5), everything)
    assert a.shape == crop.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - crop).mean() > 1
