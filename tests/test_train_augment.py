"""Augmentation keeps the points on the image content they label (crop jitter, flip)."""

from __future__ import annotations

import numpy as np

from facestream.models.crops import CropJitter
from facestream.models.landmarks import FLIP_PERMUTATION, MEAN_SHAPE, NUM_POINTS
from facestream.models.train.augment import NO_AUGMENT, AugmentConfig, flip_crop, photometric
from facestream.models.train.dataset import LandmarkDataset, Sample

SIZE = 128


def dotted_face(tmp_path, rng: np.random.Generator) -> tuple[Sample, np.ndarray, np.ndarray]:
    """An image with a coloured dot on a few landmarks of a tilted frontal face."""
    import cv2

    angle = np.radians(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = ((MEAN_SHAPE - 0.5) * 160) @ rot.T + (150, 140)
    keep = np.array([8, 30, 36, 45, 48, 54, 88, 89, 100, 115])  # well-separated points
    colours = rng.integers(60, 255, (len(keep), 3))
    image = np.zeros((300, 320, 3), np.uint8)
    for (x, y), c in zip(points[keep].round().astype(int), colours, strict=True):
        image[y - 3 : y + 4, x - 3 : x + 4] = c
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), image[..., ::-1])
    sample = Sample(path, points.astype(np.float32), np.ones(NUM_POINTS, np.float32), "stills")
    return sample, keep, colours


def test_jittered_flipped_crops_keep_points_on_their_content(tmp_path) -> None:
    rng = np.random.default_rng(3)
    sample, keep, colours = dotted_face(tmp_path, rng)
    geometry_only = AugmentConfig(
        crop=CropJitter(rotation_deg=15, scale=0.15, shift=0.08),
        flip_p=0.5,
        colour_p=0,
        gamma_p=0,
        blur_p=0,
        motion_blur_p=0,
        noise_p=0,
        jpeg_p=0,
        occluder_p=0,
    )
    dataset = LandmarkDataset([sample], SIZE, geometry_only)
    flips = 0
    for seed in range(6):
        item = dataset[(0, seed)]
        crop = item["image"].numpy().transpose(1, 2, 0)
        pts = item["points"].numpy() * SIZE - 0.5  # normalised -> crop pixel centres
        # Output point i shows input point i, or its mirror partner when flipped.
        at_36 = crop[tuple(pts[36].round().astype(int)[::-1])]
        flipped = np.abs(at_36.astype(int) - colours[list(keep).index(36)]).sum() > 60
        flips += flipped
        for out_index in range(NUM_POINTS):
            src = FLIP_PERMUTATION[out_index] if flipped else out_index
            if src not in keep:
                continue
            x, y = pts[out_index].round().astype(int)
            patch = crop[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(int)
            colour = colours[list(keep).index(src)]
            assert np.abs(patch - colour).sum(1).min() < 40, (seed, out_index)
    assert 0 < flips < 6  # both cases were checked


def test_flip_keeps_sides() -> None:
    # A mirrored face keeps the subject's right eye (36-41) on the image's left.
    points = np.asarray(MEAN_SHAPE, np.float32) * 0.8 + 0.1
    crop = np.zeros((SIZE, SIZE, 3), np.uint8)
    crop[:, :10] = 255
    out, moved, weight = flip_crop(crop, points, np.arange(NUM_POINTS, dtype=np.float32))
    assert moved[36, 0] < moved[45, 0]
    np.testing.assert_allclose(moved[36, 0], 1 - points[45, 0], atol=1e-6)
    assert weight[36] == 45 and (out[:, -10:] == 255).all()
    _, twice, _ = flip_crop(out, moved, weight)
    np.testing.assert_allclose(twice, points, atol=1e-6)


def test_no_augment_is_identity() -> None:
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
