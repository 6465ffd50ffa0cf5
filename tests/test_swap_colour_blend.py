"""Colour transfer and seam blending of the swap compositor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facestream.filters.blend import alpha_blend, feathered_mask, laplacian_blend
from facestream.filters.colour import (
    lowfreq_transfer,
    masked_mean_cov,
    match_lighting,
    stats_transfer,
)


def noisy(mean: tuple[int, int, int], spread: float, seed: int, side: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.array(mean, np.float32) + rng.normal(0, spread, (side, side, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method", ["stats", "lowfreq"])
def test_colour_transfer_moves_statistics_toward_the_target(method):
    src = noisy((200, 150, 120), 20, 0)  # light, warm skin
    tgt = noisy((90, 70, 80), 8, 1)  # dark, cool lighting
    w = np.ones(src.shape[:2], np.float32)
    if method == "stats":
        out = stats_transfer(src, tgt, w, w)
    else:
        out = lowfreq_transfer(src, tgt, w, w, sigma=8.0)
    mean_s, _ = masked_mean_cov(src, w)
    mean_t, _ = masked_mean_cov(tgt, w)
    mean_o, _ = masked_mean_cov(out, w)
    assert np.linalg.norm(mean_o - mean_t) < 0.2 * np.linalg.norm(mean_s - mean_t)


def test_contrast_follows_the_target_within_bounds():
    src = noisy((150, 120, 100), 30, 0)
    tgt = noisy((150, 120, 100), 12, 1)
    w = np.ones(src.shape[:2], np.float32)
    _, cov_o = masked_mean_cov(stats_transfer(src, tgt, w, w), w)
    _, cov_s = masked_mean_cov(src, w)
    luma = np.array([0.299, 0.587, 0.114])
    # Luma contrast drops toward the target's (12/30) but not below the 0.6 gain floor.
    assert 0.57 < np.sqrt((luma @ cov_o @ luma) / (luma @ cov_s @ luma)) < 0.63


def test_stats_transfer_ignores_pixels_outside_the_weight():
    src = noisy((200, 150, 120), 10, 0)
    tgt = noisy((90, 70, 80), 10, 1)
    tgt[:, 32:] = (0, 255, 0)  # background the weight excludes
    w = np.zeros(src.shape[:2], np.float32)
    w[:, :32] = 1
    out = stats_transfer(src, tgt, w, w)
    assert abs(out[:, :32].mean(axis=(0, 1)) - tgt[:, :32].mean(axis=(0, 1))).max() < 6


def test_feather_is_zero_outside_and_ramps_over_its_width():
    poly = np.array([[20, 20], [180, 20], [180, 180], [20, 180]], np.float32)
    a = feathered_mask(poly, (200, 200), width=16)
    assert a[10, 100] == 0 and a[100, 100] == 1
    row = a[100, :100]
    ramp = np.count_nonzero((row > 0) & (row < 1))
    assert 14 <= ramp <= 17


def test_blends_keep_pixels_where_alpha_is_zero_or_one():
    fg = noisy((200, 150, 120), 10, 0)
    bg = noisy((50, 60, 70), 10, 1)
    alpha = np.zeros(fg.shape[:2], np.float32)
    alpha[:, 32:] = 1
    out = alpha_blend(fg, bg, alpha)
    assert np.array_equal(out[:, :32], bg[:, :32]) and np.array_equal(out[:, 32:], fg[:, 32:])
    multi = laplacian_blend(fg, bg, alpha, levels=3).astype(int)
    # Far from the seam the multi-band result is each side's own image.
    assert np.abs(multi[:, :16] - bg[:, :16]).max() <= 2
    assert np.abs(multi[:, 48:] - fg[:, 48:]).max() <= 2


def test_pale_source_takes_a_warm_saturated_skin_tone_in_lab():
    # The measured case that looked pink: a pale, neutral photo (blue near 150) onto warm,
    # saturated video skin (blue near 44) needs a blue gain of 0.3; a 0.4 floor left the
    # swapped face 8 Lab units off, almost all of it in b (yellow).
    src = noisy((200, 165, 150), 12, 0)
    tgt = noisy((124, 71, 44), 8, 1)
    w = np.ones(src.shape[:2], np.float32)
    out = stats_transfer(src, tgt, w, w)

    def lab(img: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(img, cv2.COLOR_RGB2LAB).reshape(-1, 3).mean(0) * [100 / 255, 1, 1]

    assert np.linalg.norm(lab(out) - lab(tgt)) < 2.0


def lab_of(img: np.ndarray) -> np.ndarray:
    """float CIE Lab, L in 0-100, a and b centred on 0."""
    out = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float64)
    return out * [100 / 255, 1, 1] - [0, 128, 128]


def skin_with(mean: tuple[int, int, int], marks: np.ndarray, colour: tuple, seed: int):
    """A textured skin patch with `marks` (bool) painted `colour`, lightly blurred."""
    img = noisy(mean, 6, seed).astype(np.float32)
    img[marks] = colour
    return np.clip(cv2.GaussianBlur(img, (3, 3), 0.8), 0, 255).astype(np.uint8)


def test_dark_source_onto_a_flat_pale_target_keeps_highlights_on_the_skin_hue():
    # Obama onto liveportrait/d14: a brown source (its highlights nearer white than its
    # skin) onto flat, pale, pink skin. Per-channel gains (blue x1.6) turned the
    # highlights a bluish white: pale halos above the brows and on the cheeks.
    marks = np.zeros((64, 64), bool)
    marks[10:16, 8:56] = True  # a highlight across the brow ridge
    src = skin_with((190, 129, 103), marks, (235, 200, 185), 0)
    tgt = noisy((209, 175, 161), 2, 1)
    w = np.ones(src.shape[:2], np.float32)
    out = lab_of(stats_transfer(src, tgt, w, w))
    skin = lab_of(tgt).reshape(-1, 3).mean(0)
    # The face's skin lands on the target's...
    assert np.linalg.norm(np.median(out[~marks], 0) - skin) < 3.0
    # ...and the highlight is a lighter shade of it, not another colour: its chroma (a, b)
    # within 4 of the skin's (3.6), where the gains put it 21 away (a 0, b -7: bluish).
    highlight = np.median(out[marks], 0)
    assert highlight[0] > skin[0] + 3
    assert np.linalg.norm(highlight[1:] - skin[1:]) < 4.0


def test_faint_warm_creases_stay_faint_on_a_less_saturated_target():
    # Grace Hopper onto spectre/M030: her creases, redder than her warm skin, came out
    # as saturated red-orange lines on the target's more neutral skin.
    marks = np.zeros((64, 64), bool)
    marks[:, 20:22] = marks[:, 40:42] = marks[30:32, :] = True
    src = skin_with((205, 150, 125), marks, (185, 115, 90), 0)
    tgt = noisy((175, 140, 125), 4, 1)
    w = np.ones(src.shape[:2], np.float32)

    def crease_chroma(img: np.ndarray) -> float:
        lab = lab_of(img)
        return float(np.linalg.norm(np.median(lab[marks], 0)[1:] - np.median(lab[~marks], 0)[1:]))

    before = crease_chroma(src)
    after = crease_chroma(stats_transfer(src, tgt, w, w))
    # Scaled down like the skin's own chroma toward the target's (0.62 of the source's
    # here), never up: the gains kept them at full strength (1.0 of the source's).
    assert after < 0.7 * before


def test_a_grey_source_takes_the_target_skin_colour_and_keeps_dark_features_dark():
    # A black and white photo has no chroma to scale: the skin takes the target's colour
    # in proportion to its luma (dark features stay dark and nearly neutral).
    marks = np.zeros((64, 64), bool)
    marks[40:48, 20:44] = True
    src = skin_with((150, 150, 150), marks, (60, 60, 60), 0)
    tgt = noisy((200, 150, 120), 4, 1)
    w = np.ones(src.shape[:2], np.float32)
    out = lab_of(stats_transfer(src, tgt, w, w))
    skin = lab_of(tgt).reshape(-1, 3).mean(0)
    assert np.linalg.norm(np.median(out[~marks], 0) - skin) < 3.0
    dark = np.median(out[marks], 0)
    assert dark[0] < skin[0] - 15 and np.hypot(*dark[1:]) < np.hypot(*skin[1:])


def test_relighting_reads_the_source_light_from_its_skin_too():
    # Grace Hopper's dark glasses rims and creases counted as shade in the source's light
    # (the target's is read from its skin only), so the lighting match brightened the skin
    # around them: her face came out 2-3 L lighter than the target's. Here the skin beside
    # the band was brightened by 30 grey levels; read from skin, by under 2.
    src = noisy((180, 140, 120), 3, 0, side=96)
    src[40:52] = (45, 35, 30)  # a dark band across the face, not skin
    tgt = noisy((180, 140, 120), 3, 1, side=96)
    w = np.ones(src.shape[:2], np.float32)
    out = match_lighting(src, tgt, w, size=64.0).astype(float)
    skin = np.r_[28:38, 54:64]  # rows beside the band
    assert abs(out[skin].mean() - src[skin].astype(float).mean()) < 3.0


def test_relighting_reads_the_light_at_the_border_in_full():
    # A target shaded toward its outline (its jaw and temples turn from the light) under a
    # source lit flat in its photo: weighed by the feather, the light at the border leaned
    # on the face's middle and the source stayed lighter there than the target's skin
    # around (4.6 grey levels more in the feather's outer half here, up to 8).
    n, size, margin = 200, 150.0, 20
    corners = np.array([[margin, margin], [n - margin, margin], [n - margin, n - margin]])
    poly = np.vstack([corners, [[margin, n - margin]]]).astype(np.float32)
    alpha = feathered_mask(poly, (n, n), width=0.06 * size)
    yy, xx = np.mgrid[:n, :n]
    depth = np.minimum.reduce([xx - margin, n - margin - xx, yy - margin, n - margin - yy])
    shade = 1.0 - 0.35 * np.clip((30 - depth) / 30, 0, 1)
    rng = np.random.default_rng(0)
    skin = np.array([190, 150, 130])
    tgt = np.clip(skin * shade[..., None] + rng.normal(0, 2, (n, n, 3)), 0, 255).astype(np.uint8)
    src = np.clip(skin + rng.normal(0, 2, (n, n, 3)), 0, 255).astype(np.uint8)
    feathered = match_lighting(src, tgt, alpha, size).astype(int)
    plain = match_lighting(src, tgt, (alpha > 0).astype(np.float32), size).astype(int)
    assert np.abs(feathered - plain)[alpha > 0].max() <= 1
