"""The default mask's top covers the target's real brows, found in its pixels (`brows.py`):
a raised brow the landmarks put too low, not hair over the forehead."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import facestream.filters.brows as brows
import facestream.filters.swap as swap
from facestream.filters.blend import polygon_mask
from facestream.filters.brows import BrowTrack, lift_brows, upright
from facestream.filters.enroll import BROWS, FOREHEAD_ROW, OUTLINE, enroll_source
from facestream.filters.shape import face_size
from facestream.filters.swap import SwapOptions, TrackState, composite_face
from facestream.models.landmarks import MEAN_SHAPE

SKIN = (200.0, 160.0, 140.0)
BROW = (70.0, 50.0, 40.0)
HALF = len(BROWS) // 2


def placed(angle: float = 0.0) -> np.ndarray:
    """The mean face, 300 px wide, turned `angle` degrees in the image plane."""
    points = np.asarray(MEAN_SHAPE, np.float32) * 300
    turn = cv2.getRotationMatrix2D((150.0, 150.0), angle, 1.0)
    return (points @ turn[:, :2].T + turn[:, 2] + (50, 90)).astype(np.float32)


def skin_image(points: np.ndarray, seed: int = 0) -> np.ndarray:
    """Skin with pore-scale noise inside the face outline, a grey background around it."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0.0, 3.0, (520, 420)).astype(np.float32), (0, 0), 1)
    face = polygon_mask(points[OUTLINE], (520, 420)) > 0
    out = np.where(face[..., None], np.array(SKIN) + noise[..., None], 120.0)
    return np.clip(out, 0, 255).astype(np.uint8)


def brow_band(points: np.ndarray, up: float, thick: float) -> np.ndarray:
    """bool mask of both brows drawn along the brow points lifted `up` and `thick` thick
    (face sizes, in the face's upright frame), the points on the band's upper half."""
    size = face_size(points)
    down = upright(points)[1]  # the upright frame's y axis in the image
    band = np.zeros((520, 420), np.uint8)
    for brow in (BROWS[:HALF], BROWS[HALF:]):
        line = points[brow] + (0.4 * thick - up) * size * down
        cv2.polylines(band, [np.round(line).astype(np.int32)], False, 255, int(thick * size))
    return band > 0


def with_brows(image: np.ndarray, band: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[band] = BROW
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory):
    """An even skin source with its own brows where its landmarks say."""
    points = placed()
    path = Path(tmp_path_factory.mktemp("brows")) / "source.png"
    image = with_brows(skin_image(points, 1), brow_band(points, 0.0, 0.04))
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return enroll_source(path, lambda _: [points])


def alpha_over(points: np.ndarray, image: np.ndarray, source, band: np.ndarray) -> np.ndarray:
    """The swap's mask (alpha) over the `band`'s pixels, on a fresh track."""
    result = composite_face(image.copy(), points, source, SwapOptions(), TrackState())
    assert result is not None
    x0, y0, x1, y1 = result.box
    alpha = np.zeros(band.shape, np.float32)
    alpha[y0:y1, x0:x1] = result.alpha
    return alpha[band]


@pytest.mark.parametrize("angle", [0.0, 20.0])
def test_a_brow_raised_far_above_its_points_is_covered(source, monkeypatch, angle):
    """A brow 0.1 face sizes over its points (the mean face's forehead outline, where the
    source texture ends, lies 0.18 over them): the mask covers it but for the feather
    along the face outline at its tails."""
    points = placed(angle)
    band = brow_band(points, 0.1, 0.04)
    image = with_brows(skin_image(points), band)
    covered = alpha_over(points, image, source, band)
    assert covered.mean() > 0.93 and np.percentile(covered, 10) > 0.7
    # The check can fail: drawn from the points, the mask stopped under the brows.
    monkeypatch.setattr(swap, "lift_brows", lambda image, target, size, track: target)
    shown = alpha_over(points, image, source, band)
    assert shown.mean() < 0.65 and np.percentile(shown, 10) < 0.3


def test_brows_where_the_points_say_leave_the_mask_as_it_was(source, monkeypatch):
    points = placed()
    image = with_brows(skin_image(points), brow_band(points, 0.0, 0.05))
    lifted = lift_brows(image, points, face_size(points))
    assert np.abs(lifted - points).max() <= 1.0
    face = polygon_mask(points[OUTLINE], (520, 420)) > 0
    searched = alpha_over(points, image, source, face)
    monkeypatch.setattr(swap, "lift_brows", lambda image, target, size, track: target)
    assert np.abs(searched - alpha_over(points, image, source, face)).max() < 0.02


@pytest.mark.parametrize("fringe_end", [0.05, 0.1, 0.16])
def test_a_fringe_over_the_forehead_is_no_brow(fringe_end):
    """Dark hair in strands down to `fringe_end` face sizes over the brows (which are
    where their points say): the cover does not climb into it."""
    points = placed()
    size = face_size(points)
    image = with_brows(skin_image(points), brow_band(points, 0.0, 0.04))
    end = int(points[BROWS, 1].min() - fringe_end * size)
    rows = np.arange(end)[:, None] % 6 < 3  # strands: two browns every 3 px
    image[:end] = np.where(rows[..., None], (60, 40, 30), (90, 60, 40)).astype(np.uint8)
    assert np.abs(lift_brows(image, points, size) - points).max() <= 1.0


def test_a_raised_brow_under_a_fringe_is_still_found():
    """Hair down to 0.25 face sizes over the brow points, a brow whose top lies 0.1 over
    them: the brow is found, the hair is not."""
    points = placed()
    size = face_size(points)
    image = with_brows(skin_image(points), brow_band(points, 0.1, 0.04))
    end = int(points[BROWS, 1].min() - 0.25 * size)
    image[:end] = (60, 40, 30)
    lift = (points - lift_brows(image, points, size))[BROWS, 1] / size
    assert 0.09 < lift.min() and lift.max() < 0.14


def test_the_track_covers_a_raise_at_once_and_keeps_it_through_a_missed_frame():
    track = BrowTrack()
    raised = np.full(len(BROWS), 0.1, np.float32)
    track.update(np.zeros(len(BROWS), np.float32))
    lifts = [track.update(raised).min() for _ in range(3)]
    assert lifts[0] > 0.05 and lifts[2] > 0.09  # most of the way within 3 frames
    assert track.update(np.zeros(len(BROWS), np.float32)).min() > 0.075  # one miss


def test_the_lifted_row_stays_under_the_drawn_forehead_outline(monkeypatch):
    """Brows lifted to the forehead outline: the mask's top row stops under the outline of
    the drawn points (past it the warp has no source pixels, which blended in grey)."""
    points = placed()
    size = face_size(points)
    lifted = points.copy()
    lifted[BROWS, 1] -= 0.25 * size
    inside = polygon_mask(points[OUTLINE], (520, 420)) > 0

    def row() -> np.ndarray:  # the forehead row closes the polygon
        polygon = swap.face_polygon(points, lifted, 0.11 * size)
        return np.round(polygon[-len(FOREHEAD_ROW) :]).astype(int)

    assert inside[row()[:, 1] + 1, row()[:, 0]].all()
    # The check can fail: without the ceiling the row rose past the outline.
    monkeypatch.setattr(swap, "OUTLINE_MARGIN", -np.inf)
    assert not inside[row()[:, 1], row()[:, 0]].all()


def test_the_search_runs_every_other_frame_while_it_finds_nothing(monkeypatch):
    """After a search that finds no brow over its points the next frame is not searched
    and counts as such a search; a brow found is searched for on every frame."""
    points = placed()
    size = face_size(points)
    calls = []

    def find(image, target, size, rotation):  # the 4th to the 7th search find a brow
        calls.append(len(calls))
        return np.full(len(BROWS), 0.1 if 3 <= calls[-1] < 7 else 0.0, np.float32)

    monkeypatch.setattr(brows, "find_lift", find)
    track, image = BrowTrack(), np.zeros((520, 420, 3), np.uint8)
    lifts = []
    for _ in range(20):
        lifted = lift_brows(image, points, size, track)
        lifts.append(float((points - lifted)[BROWS, 1].min() / size))
    # Searched on frames 0, 2, 4 (nothing), 6 to 9 (the brow), 10 (nothing), 12, ... 18.
    assert len(calls) == 3 + 4 + 5
    assert lifts[:6] == [0.0] * 6 and lifts[6] > 0.05 and lifts[9] > lifts[6]
    # From frame 10 on every frame falls back by FALL, searched or not.
    falls = np.array(lifts[10:]) / np.array(lifts[9:-1])
    assert np.allclose(falls, 1.0 - BrowTrack.FALL, atol=1e-4)


def test_a_brow_raised_up_to_the_forehead_outline_is_taken_out_of_the_feather(source, monkeypatch):
    """A brow whose top lies 0.135 face sizes over its points, by the drawn forehead outline
    (0.18): the mask stops under the outline and its feather fades out over the brow's
    top. The brow's dark band is taken out of the target's pixels there
    (`brows.clear_raised`): the output over it is near the swap of the face without it."""
    points = placed()
    size = face_size(points)
    band = brow_band(points, 0.13, 0.05)
    plain = skin_image(points)
    image = with_brows(plain, band)
    lifted = lift_brows(image, points, size)
    assert (points - lifted)[BROWS, 1].max() > 0.1 * size  # the search finds it
    # Both frames' masks drawn from the raised brow (the plain frame has none to find).
    monkeypatch.setattr(swap, "lift_brows", lambda image, target, size, track: lifted)
    luma = np.array([0.299, 0.587, 0.114], np.float32)

    def darker() -> float:
        """How much darker the output is over the raised brow's band, in luma levels."""
        outs = []
        for frame in (image, plain):
            out = frame.copy()
            composite_face(out, points, source, SwapOptions(), TrackState())
            outs.append(out.astype(np.float32) @ luma)
        return float((outs[1] - outs[0])[band].mean())

    cleared = darker()
    # The check can fail: with the target's pixels as they were the brow's top showed.
    monkeypatch.setattr(swap, "clear_raised", lambda image, target, lifted, size: None)
    shown = darker()
    assert shown > 10.0 and cleared < 0.3 * shown  # measured 15.8 and 3.5
