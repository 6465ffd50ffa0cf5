"""A smiling source's teeth never land on the target's lips (issue #8).

The landmark model puts a smiling source's inner-lip points on the teeth, so the teeth lie
outside its inner-lip polygon and the warp draws them over the target's lips, where a
closed target mouth has no interior of its own to keep. Enrollment paints them over in
lip colour (`lip_texture`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import facestream.filters.enroll as enroll
from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import enroll_source, lip_texture
from facestream.filters.swap import SwapOptions, TrackState, composite_face
from facestream.models.landmarks import INNER_MOUTH, MEAN_SHAPE, OUTER_MOUTH

SKIN, LIPS, TEETH = (205, 150, 125), (175, 85, 90), (238, 236, 226)
SCALE, ORIGIN = 300.0, (50.0, 60.0)


def points(opening: float) -> np.ndarray:
    """MEAN_SHAPE in pixels with the inner lips `opening` px apart (0 = closed)."""
    p = np.asarray(MEAN_SHAPE, np.float32) * SCALE + ORIGIN
    mouth = np.asarray(INNER_MOUTH)
    mid = p[mouth, 1].mean()
    upper = p[mouth, 1] < mid
    p[mouth[upper], 1] = mid - opening / 2
    p[mouth[~upper], 1] = mid + opening / 2
    return p


def portrait(p: np.ndarray, teeth: bool, seed: int) -> np.ndarray:
    """Skin with a little noise, red lips, and white teeth in a band between the lips
    wider than the inner-lip polygon (as the landmark model places a smile's points)."""
    rng = np.random.default_rng(seed)
    image = np.empty((460, 420, 3), np.uint8)
    image[:] = SKIN
    lips = polygon_mask(p[OUTER_MOUTH], image.shape[:2]) > 0
    image[lips] = LIPS
    if teeth:
        inner = p[INNER_MOUTH]
        top, bottom = inner[:, 1].min() - 7, inner[:, 1].max() + 8
        rows = np.arange(image.shape[0])[:, None]
        image[lips & (rows > top) & (rows < bottom)] = TEETH
    else:
        cv2.polylines(image, [np.round(p[INNER_MOUTH]).astype(np.int32)], True, (70, 35, 35), 2)
    noise = rng.normal(0, 3, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def teeth_white(image: np.ndarray) -> np.ndarray:
    """Bright, nearly grey pixels: teeth, not skin (a* about 15 here) nor lips (a* 40)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    light = lab[..., 0] * (100 / 255)
    chroma = np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)
    return (light > 85) & (chroma < 10)


@pytest.fixture
def smiling(tmp_path: Path) -> Path:
    path = tmp_path / "smile.png"
    src = points(10.0)
    cv2.imwrite(str(path), cv2.cvtColor(portrait(src, teeth=True, seed=1), cv2.COLOR_RGB2BGR))
    return path


def no_lip_texture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Enrollment as it was before `lip_texture`."""
    monkeypatch.setattr(
        enroll, "lip_texture", lambda image, p: (image, np.zeros(image.shape[:2], bool))
    )


def lips_of(p: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return polygon_mask(p[OUTER_MOUTH], shape) > 0


def test_enrolled_source_has_no_teeth_inside_its_lips(smiling, monkeypatch):
    src = points(10.0)
    after = enroll_source(smiling, lambda image: [src])
    lips = lips_of(after.points, after.image.shape[:2])
    assert not teeth_white(after.image)[lips].any()
    # What the painting replaced is lip-coloured, not skin or grey.
    lab = cv2.cvtColor(after.image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lip_lab = cv2.cvtColor(np.uint8([[LIPS]]), cv2.COLOR_RGB2LAB).astype(np.float32)[0, 0]
    assert np.abs(np.median(lab[lips], axis=0) - lip_lab).max() < 12  # skin: 46 off in L
    # Every level of the pyramid the swap samples comes from the painted texture.
    assert not teeth_white(after.pyramid[1]).any()
    no_lip_texture(monkeypatch)
    before = enroll_source(smiling, lambda image: [src])
    assert teeth_white(before.image)[lips].sum() > 500  # the premise: teeth were there


def test_a_closed_source_mouth_is_left_as_it_is(tmp_path):
    p = points(0.0)
    image = portrait(p, teeth=False, seed=2)
    painted, replaced = lip_texture(image, p)
    assert not replaced.any()
    assert painted is image


def test_a_closed_target_mouth_shows_lips_not_the_source_teeth(smiling, monkeypatch):
    target = points(0.0)  # closed: the target has no mouth interior to keep
    frame = portrait(target, teeth=False, seed=3)
    src = points(10.0)

    def swapped() -> np.ndarray:
        source = enroll_source(smiling, lambda image: [src])
        out = frame.copy()
        # No colour transfer: the question is where the teeth are drawn, not their tone.
        options = SwapOptions(colour="none")
        assert composite_face(out, target, source, options, TrackState()) is not None
        return teeth_white(out) & lips_of(target, frame.shape[:2])

    assert swapped().sum() == 0
    no_lip_texture(monkeypatch)
    assert swapped().sum() > 100  # the old enrollment pasted the teeth on the lips
