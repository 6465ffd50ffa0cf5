"""Crop geometry: crops and back-mapping recover synthetic points through rotation/scale."""

import math

import cv2
import numpy as np
import pytest
import torch

from facestream.models import crops
from facestream.models.heatmaps import decode_heatmaps, render_heatmaps
from facestream.models.landmarks import MEAN_SHAPE


def _similarity(angle_deg, scale, tx, ty):
    a = math.radians(angle_deg)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    return np.array([[c, -s, tx], [s, c, ty]])


def _faces(n=6, seed=0):
    rng = np.random.default_rng(seed)
    transforms = [
        _similarity(rng.uniform(-170, 170), rng.uniform(60, 400), *rng.uniform(150, 450, 2))
        for _ in range(n)
    ]
    pts = np.stack([MEAN_SHAPE @ t[:, :2].T + t[:, 2] for t in transforms])
    return pts.astype(np.float32), transforms


def test_crop_normalises_rotation_and_scale():
    pts, transforms = _faces()
    affine = crops.crop_from_landmarks(pts)
    assert affine.shape == (len(pts), 2, 3) and affine.dtype == np.float32
    in_crop = crops.apply_affines(crops.invert_affines(affine), pts)
    expected = 0.5 + (MEAN_SHAPE - 0.5) * crops.FACE_FRACTION
    assert np.abs(in_crop - expected).max() < 1e-4
    # Crop side in frame pixels = face height / FACE_FRACTION, whatever the rotation.
    for a, t in zip(affine, transforms, strict=True):
        side = np.linalg.norm(a[:, 0])
        assert side == pytest.approx(np.linalg.norm(t[:, 0]) / crops.FACE_FRACTION, rel=1e-4)


def test_detection_keypoints_give_the_same_crop_on_the_template_face():
    pts, transforms = _faces(3, seed=1)
    kps = np.stack([crops.DETECTION_TEMPLATE @ t[:, :2].T + t[:, 2] for t in transforms])
    a_det = crops.crop_from_keypoints(kps)
    a_lm = crops.crop_from_landmarks(pts)
    side = np.linalg.norm(a_lm[:, :, 0], axis=1)[:, None, None]
    assert np.abs(a_det - a_lm).max() / side.min() < 0.03


def test_cut_crops_and_back_mapping_recover_pixels():
    # Plant small bright blobs at the eye corners of a rotated face, cut the crop, find the
    # blobs in the crop and map their centroids back to the frame.
    pts, _ = _faces(1, seed=2)
    frame = np.zeros((600, 600, 3), np.uint8)
    yy, xx = np.mgrid[:600, :600]
    targets = pts[0, [36, 45, 8]]
    blobs = []
    for x, y in targets:
        blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 3.0**2))
        blobs.append(blob)
    frame[..., 0] = np.clip(sum(blobs) * 255, 0, 255).astype(np.uint8)
    affine = crops.crop_from_landmarks(pts)
    size = 128
    crop = crops.cut_crops(frame, affine, size)[0, ..., 0].astype(np.float64)
    to_frame = crops.pixel_affines(affine, size)
    in_crop = crops.apply_affines(crops.invert_affines(to_frame), targets[None])[0]
    cy, cx = np.mgrid[:size, :size]
    for (px, py), (fx, fy) in zip(in_crop, targets, strict=True):
        win = (np.abs(cx - px) < 6) & (np.abs(cy - py) < 6)
        w = crop * win
        centroid = np.array([(w * cx).sum(), (w * cy).sum()]) / w.sum()
        back = crops.apply_affines(to_frame, centroid[None, None])[0, 0]
        step = np.linalg.norm(to_frame[0, :, 0])  # frame pixels per crop pixel
        assert np.linalg.norm(back - [fx, fy]) < 0.3 * max(step, 1)


def test_heatmap_round_trip_through_crop():
    pts, _ = _faces(4, seed=3)
    affine = crops.crop_from_landmarks(pts)
    unit = crops.apply_affines(crops.invert_affines(affine), pts)
    hm = render_heatmaps(torch.from_numpy(unit), (32, 32), 1.5)
    decoded, _ = decode_heatmaps(hm, torch.from_numpy(affine))
    step = np.linalg.norm(affine[:, :, 0], axis=1)[:, None] / 32  # frame px per heatmap cell
    err_cells = np.linalg.norm(decoded.numpy() - pts, axis=-1) / step
    assert err_cells.max() < 0.05


def test_pyramid_keeps_geometry_for_large_faces():
    # A face 1500 px tall cut into 64 px: sampled from a pyramid level, same geometry.
    pts = (MEAN_SHAPE * 1500 + 100)[None].astype(np.float32)
    frame = np.zeros((1800, 1800, 3), np.uint8)
    frame[:, :850] = 255  # a vertical edge on the face's midline (x = 850)
    crop = crops.cut_crops(frame, crops.crop_from_landmarks(pts), 64)[0, ..., 0]
    row = crop[32].astype(int)
    edge = np.argmax(np.diff(row) < -100)
    assert abs(edge - 31) <= 1  # the midline sits at the crop centre


def test_jitter_is_a_bounded_similarity():
    pts, _ = _faces(1, seed=4)
    base = crops.crop_from_landmarks(np.repeat(pts, 200, 0))
    jit = crops.CropJitter(rotation_deg=10, scale=0.1, shift=0.05)
    out = crops.crop_from_landmarks(np.repeat(pts, 200, 0), jit, np.random.default_rng(0))
    rel = np.linalg.norm(out[:, :, 0], axis=1) / np.linalg.norm(base[:, :, 0], axis=1)
    assert rel.min() >= 0.9 - 1e-5 and rel.max() <= 1.1 + 1e-5 and rel.std() > 0.03
    angle = np.degrees(
        np.arctan2(out[:, 1, 0], out[:, 0, 0]) - np.arctan2(base[:, 1, 0], base[:, 0, 0])
    )
    angle = (angle + 180) % 360 - 180
    assert np.abs(angle).max() <= 10 + 1e-3 and angle.std() > 3


def test_bad_shapes():
    with pytest.raises(ValueError):
        crops.crop_from_landmarks(np.zeros((5, 2)))
    with pytest.raises(ValueError):
        crops.crop_from_keypoints(np.zeros((1, 2, 2)))


def test_cut_crops_match_a_whole_frame_pyramid():
    """Crops cut from the region around each face equal those cut from the whole frame's
    pyramid (within one grey level), large faces, rotations and crops past the edges."""
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (333, 517, 3), dtype=np.uint8)
    pyramid = [frame]
    for _ in range(3):
        pyramid.append(cv2.pyrDown(pyramid[-1]))
    for scale, centre, angle in [
        (400, (250, 160), 0.3),
        (900, (30, 300), -1.0),
        (90, (500, 10), 2.0),
    ]:
        c, s = np.cos(angle), np.sin(angle)
        points = (MEAN_SHAPE - 0.5) @ np.array([[c, -s], [s, c]]).T * scale + centre
        affine = crops.crop_from_landmarks(points[None].astype(np.float32))
        got = crops.cut_crops(frame, affine, 64)[0]
        a = crops.pixel_affines(affine, 64)[0].astype(np.float64)
        step, level = float(np.sqrt(abs(np.linalg.det(a[:, :2])))), 0
        while step > 2.0 and min(pyramid[level].shape[:2]) > 2 * 64:
            level, step = level + 1, step / 2
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        want = cv2.warpAffine(pyramid[level], a / 2**level, (64, 64), flags=flags)
        assert level > 0 or scale < 100
        assert np.abs(got.astype(int) - want).max() <= 1
        assert (got != want).mean() < 0.01
