"""Sharpness matching: a sharper source is blurred toward the target's detail, never sharpened."""

from __future__ import annotations

import cv2
import numpy as np

from facestream.filters.sharpness import SharpnessMatch, detail


def noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (96, 96, 3), np.uint8)


def test_a_sharper_source_settles_near_the_target_detail():
    weight = np.ones((96, 96), np.float32)
    target = cv2.GaussianBlur(noise(1), (0, 0), 1.5)
    match = SharpnessMatch()
    for _ in range(36):
        out = match.apply(noise(0), target, weight)
    assert match.sigma > 0.5
    assert abs(np.log(detail(out, weight) / detail(target, weight))) < np.log(1.25)


def test_a_softer_source_is_left_alone():
    weight = np.ones((96, 96), np.float32)
    soft = cv2.GaussianBlur(noise(0), (0, 0), 2.0)
    match = SharpnessMatch()
    for _ in range(5):
        out = match.apply(soft, noise(1), weight)
    assert match.sigma == 0.0
    assert out is soft
