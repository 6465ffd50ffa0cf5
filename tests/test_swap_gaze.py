"""The swapped eyes follow the target's gaze (issue #8), on synthetic faces."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import cv2
import numpy as np
import pytest

from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import enroll_source
from facestream.filters.gaze import (
    IRIS_RADIUS,
    LID_MARGIN,
    MIN_READ_WIDTH,
    OPENNESS,
    Blinks,
    closedness,
    gaze_warp,
    locate_irises,
    neutral_irises,
)
from facestream.filters.shape import EYE_OPENINGS, keep_gaze
from facestream.filters.swap import SwapOptions, TrackState, composite_face
from facestream.filters.warp import build_warp_map
from facestream.models.landmarks import MEAN_SHAPE, TRIANGLES

SKIN = (205, 160, 135)


def face_points(scale: float, x: float, y: float, gaze: float = 0.0) -> np.ndarray:
    """MEAN_SHAPE placed in a frame, both iris centres moved by `gaze` x the eye's width
    toward the image's right (the subject looks to its left)."""
    p = np.asarray(MEAN_SHAPE, np.float32) * scale + (x, y)
    for eye, iris in EYE_OPENINGS:
        p[iris, 0] += gaze * eye_width(p, eye)
    return p


def eye_width(points: np.ndarray, eye: np.ndarray) -> float:
    return float(np.linalg.norm(points[eye[0]] - points[eye[len(eye) // 2]]))


def skin(h: int, w: int, seed: int) -> np.ndarray:
    """Skin-coloured image with a little smooth texture (the sharpness match needs some)."""
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.normal(0, 6, (h // 6, w // 6)).astype(np.float32), (w, h))
    return np.clip(np.float32(SKIN) + noise[..., None], 0, 255).astype(np.uint8)


def draw_eyes(image: np.ndarray, points: np.ndarray, iris: bool) -> None:
    """White eye openings, with a dark iris disc (cut by the lids) when `iris`."""
    for eye, centre in EYE_OPENINGS:
        opening = polygon_mask(points[eye], image.shape[:2]) > 0
        image[opening] = 235
        if iris:
            disc = np.zeros(image.shape[:2], np.uint8)
            r = int(round(0.2 * eye_width(points, eye)))
            cv2.circle(disc, tuple(int(v) for v in np.round(points[centre])), r, 1, -1)
            image[opening & (disc > 0)] = (40, 60, 50)


@pytest.fixture
def source(tmp_path: Path):
    """A frontal source looking straight ahead (irises in the middle of the eyes)."""
    points = face_points(300, 50, 60)
    image = skin(420, 400, 1)
    draw_eyes(image, points, iris=True)
    path = tmp_path / "source.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return enroll_source(path, lambda _: [points])


def swapped(source, target: np.ndarray, seen: np.ndarray | None = None, **options) -> np.ndarray:
    """The target frame (white eyes, no iris of its own) with the source composited, after
    a few frames of the track with the points `seen` (its identity estimate). Blinks are
    off unless asked for: an opening with no iris to see reads as a closed eye."""
    options.setdefault("follow_blinks", False)
    state = TrackState()
    for points in [] if seen is None else [seen] * 5:
        composite_face(skin(360, 480, 2), points, source, SwapOptions(**options), state)
    image = skin(360, 480, 2)
    draw_eyes(image, target, iris=False)
    composite_face(image, target, source, SwapOptions(**options), state)
    return image


def iris_offsets(image: np.ndarray, target: np.ndarray) -> list[float]:
    """Per eye: x of the dark blob's centroid inside the opening minus the target's iris
    x, as a fraction of the eye's width."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    out = []
    for eye, iris in EYE_OPENINGS:
        opening = polygon_mask(target[eye], grey.shape) > 0
        ys, xs = np.nonzero(opening & (grey < 120))
        assert len(xs) > 20, "no iris drawn in the eye"
        out.append(float((xs.mean() - target[iris, 0]) / eye_width(target, eye)))
    return out


@pytest.mark.parametrize("gaze", [-0.22, 0.22])
def test_the_swapped_iris_sits_where_the_target_looks(source, gaze):
    target = face_points(250, 110, 60, gaze)
    after = iris_offsets(swapped(source, target), target)
    assert max(abs(v) for v in after) < 0.07, after
    # The old warp left the source's iris in the middle of the eye: staring ahead.
    before = iris_offsets(swapped(source, target, follow_gaze=False), target)
    assert min(abs(v) for v in before) > 0.12, before


def test_the_iris_is_found_in_the_target_pixels_when_the_landmarks_miss_it(source):
    """The shipped landmark model puts the iris points mid-eye whatever the gaze: the
    target's own dark irises, seen aside, are followed instead."""
    looking = face_points(250, 110, 60, 0.22)  # where the target's irises are
    landmarks = face_points(250, 110, 60)  # where the model says they are
    found, readings = locate_irises(draw_target(looking), landmarks)
    assert np.all(readings > Blinks.OPEN_FLOOR)
    for eye, iris in EYE_OPENINGS:
        assert abs(found[iris, 0] - looking[iris, 0]) < 0.03 * eye_width(looking, eye)
        # Only along the corner-to-corner axis: across it the landmark stays.
        axis = landmarks[eye[len(eye) // 2]] - landmarks[eye[0]]
        moved = found[iris] - landmarks[iris]
        assert abs(moved[0] * axis[1] - moved[1] * axis[0]) / np.hypot(*axis) < 0.01
    for follow, near in ((True, True), (False, False)):
        image = draw_target(looking)
        composite_face(image, landmarks, source, SwapOptions(follow_gaze=follow), TrackState())
        offsets = iris_offsets(image, looking)
        assert (max(abs(v) for v in offsets) < 0.07) == near, offsets


def test_no_iris_is_found_in_a_white_or_closed_eye():
    points = face_points(250, 110, 60, 0.22)
    image = skin(360, 480, 2)
    draw_eyes(image, points, iris=False)
    found, readings = locate_irises(image, points)
    assert np.array_equal(found, points)
    assert np.all(readings[:, OPENNESS] < 0.1 * Blinks.OPEN_FLOOR[OPENNESS])


def draw_target(points: np.ndarray) -> np.ndarray:
    """A target frame with its own dark irises where `points` has them."""
    image = skin(360, 480, 2)
    draw_eyes(image, points, iris=True)
    return image


def test_a_target_looking_ahead_gets_the_source_eyes_unchanged(source):
    target = face_points(250, 110, 60)
    on, off = swapped(source, target), swapped(source, target, follow_gaze=False)
    assert np.abs(on.astype(int) - off).max() <= 2


def test_only_the_eye_openings_change(source):
    target = face_points(250, 110, 60, 0.22)
    on, off = swapped(source, target), swapped(source, target, follow_gaze=False)
    region = np.zeros(on.shape[:2], np.uint8)
    for eye, _ in EYE_OPENINGS:
        region |= polygon_mask(target[eye], region.shape)
    reach = int(np.ceil(LID_MARGIN * eye_width(target, EYE_OPENINGS[0][0]))) + 2
    region = cv2.dilate(region, np.ones((2 * reach + 1, 3), np.uint8))
    diff = np.abs(on.astype(int) - off).max(axis=2)
    assert diff[region > 0].max() > 100  # the iris moved
    # Elsewhere only the colour statistics move a little (the eyes are part of the face).
    assert diff[region == 0].max() <= 3


def test_a_blink_stays_closed(source):
    """A closed eye hides its iris: with the iris point aside the lids close as they did
    before (shifted, the squeezed opening showed twice as much of the source's iris)."""
    target = face_points(250, 110, 60, 0.22)
    for eye, iris in EYE_OPENINGS:
        upper, lower = eye[1:4], eye[5:8]
        mid = 0.5 * (target[upper] + target[lower[::-1]])
        target[upper], target[lower[::-1]] = mid - (0, 0.5), mid + (0, 0.5)
        target[iris, 1] = mid[1, 1]
    # The track saw the eyes open before, so the blink is expression, not identity shape.
    seen = face_points(250, 110, 60)
    on, off = swapped(source, target, seen), swapped(source, target, seen, follow_gaze=False)
    for eye, _ in EYE_OPENINGS:
        x0, y0 = np.floor(target[eye].min(axis=0)).astype(int) - 3
        x1, y1 = np.ceil(target[eye].max(axis=0)).astype(int) + 4
        dark = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[y0:y1, x0:x1] < 120 for im in (on, off)]
        rows = [np.flatnonzero(d.any(axis=1)) for d in dark]
        # The squeezed source eye is a thin dark line along the closed lids, as before.
        assert dark[0].sum() <= 1.2 * dark[1].sum() + 3
        assert rows[0].min() >= rows[1].min() - 1 and rows[0].max() <= rows[1].max() + 1


LIDS = (190, 142, 120)  # a closed eye's lid skin, a little darker than the face


def blinked(points: np.ndarray) -> np.ndarray:
    """A target frame whose eye openings hold only lid skin (the eyes are closed), while
    `points` keep them open, as the shipped landmark model's lids do in a blink."""
    image = skin(360, 480, 2)
    for eye, _ in EYE_OPENINGS:
        image[polygon_mask(points[eye], image.shape[:2]) > 0] = LIDS
    return image


def openings(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Both eye openings, less a pixel at the edge (the polygon's own anti-aliasing)."""
    inside = np.zeros(shape[:2], np.uint8)
    for eye, _ in EYE_OPENINGS:
        inside |= polygon_mask(points[eye], shape[:2])
    return cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0


@pytest.mark.parametrize("tracked", [True, False])
def test_a_closed_eye_shows_the_target_lids(source, tracked):
    """The source's iris and sclera squeezed between half-open lids never blinked: where
    the target's opening shows no eye, its own lids are kept."""
    points = face_points(250, 110, 60, 0.1)
    state = TrackState() if tracked else None
    for _ in range(5 if tracked else 0):  # the track saw the eyes open
        composite_face(draw_target(points), points, source, SwapOptions(), state)
    outputs = {}
    for follow in (True, False):
        outputs[follow] = blinked(points)
        run = deepcopy(state)  # the same track history for both
        composite_face(outputs[follow], points, source, SwapOptions(follow_blinks=follow), run)
    inside = openings(points, outputs[True].shape)
    target = blinked(points)[inside].astype(int)
    assert np.abs(outputs[True][inside] - target).max() <= 2
    # Before: the source's white of the eye and iris, only squeezed.
    assert np.abs(outputs[False][inside] - target).max() > 60


LASHES = (60, 40, 35)  # a heavy lash line and crease over a closed eye


def lashed(points: np.ndarray) -> np.ndarray:
    """`blinked`, with the upper two thirds of each opening one dark band of lashes along
    the lids: as dark as an open eye's iris to the openness, but with no white beside it."""
    image = blinked(points)
    for eye, _ in EYE_OPENINGS:
        upper, lower = points[eye[1:4]], points[eye[5:8]][::-1]
        edge = upper + 2.0 / 3.0 * (lower - upper)
        band = np.concatenate([points[eye[:5]], edge[::-1]])
        alpha = polygon_mask(band, image.shape[:2]).astype(np.float32)[..., None] / 255.0
        image[:] = np.round(alpha * LASHES + (1.0 - alpha) * image).astype(np.uint8)
    return image


def test_a_closed_eye_under_heavy_lashes_shows_the_target_lids(source):
    """The lash line of d3's or d9's closed eyes is as dark as their open irises: the
    openness alone barely falls, while the white beside the iris is gone."""
    points = face_points(250, 110, 60, 0.1)
    state = TrackState()
    for _ in range(10):  # the track saw the eyes open
        composite_face(draw_target(points), points, source, SwapOptions(), state)
    level = state.blinks.level.copy()
    _, readings = locate_irises(lashed(points), points)
    # The openness alone reads the eyes as open ...
    assert np.all(closedness(readings, level)[:, OPENNESS] == 0.0)
    # ... the eyes are closed all the same: the target's lids and lashes are kept.
    output = lashed(points)
    composite_face(output, points, source, SwapOptions(), state)
    inside = openings(points, output.shape)
    assert np.abs(output[inside].astype(int) - lashed(points)[inside]).max() <= 2


@pytest.mark.parametrize("gaze", [-0.25, 0.25])
def test_a_glance_aside_is_not_a_blink(gaze):
    """An iris moved to a corner changes the eye's pixels a lot, but leaves white beside it."""
    ahead, aside = face_points(250, 110, 60), face_points(250, 110, 60, gaze)
    blinks = Blinks()
    for _ in range(30):
        blinks.update(locate_irises(draw_target(ahead), ahead)[1])
    for _ in range(5):
        assert np.all(blinks.update(locate_irises(draw_target(aside), ahead)[1]) == 0.0)


@pytest.mark.parametrize("slip", [0.2, 0.23])
def test_an_open_eye_off_the_landmarks_opening_is_not_a_blink(slip):
    """The engine's eye openings can slip off a wide-open eye (d11, d12): read where they
    lie, the eye looked closing; read where the opening's darkest stretch is, it is open."""
    points = face_points(250, 110, 60, 0.1)
    blinks = Blinks()
    for _ in range(10):
        blinks.update(locate_irises(draw_target(points), points)[1])
    eyes = points.copy()  # the eyes drawn `slip` eye widths above the landmarks' openings
    for eye, iris in EYE_OPENINGS:
        eyes[[*eye, iris], 1] -= slip * eye_width(points, eye)
    _, readings = locate_irises(draw_target(eyes), points)
    assert np.all(blinks.update(readings) == 0.0)


def test_open_eyes_are_unchanged_by_the_blink_step(source):
    points = face_points(250, 110, 60, 0.15)
    outputs = []
    for follow in (True, False):
        state = TrackState()
        for _ in range(5):
            image = draw_target(points)
            composite_face(image, points, source, SwapOptions(follow_blinks=follow), state)
        outputs.append(image)
    assert np.array_equal(outputs[0], outputs[1])


def test_the_warp_moves_the_iris_disc_rigidly():
    src = np.asarray(MEAN_SHAPE, np.float32) * 300
    dst = src * 0.8 + (20, 10)
    for eye, iris in EYE_OPENINGS:
        # Along the corner-to-corner axis (the shift's direction).
        dst[iris] += 0.2 * (dst[eye[len(eye) // 2]] - dst[eye[0]])
    warp = gaze_warp(src, dst, np.asarray(TRIANGLES), (0, 0, 260, 260))
    for eye, iris in EYE_OPENINGS:
        # Around the target's iris centre the map is the eye's scale, shifted onto the
        # source's iris centre: the whole disc moves with it.
        radius = 0.5 * IRIS_RADIUS * eye_width(dst, eye)
        for angle in np.linspace(0, 2 * np.pi, 8, endpoint=False):
            p = dst[iris] + radius * np.array([np.cos(angle), np.sin(angle)])
            x, y = np.round(p).astype(int)
            expected = src[iris] + (np.array([x, y]) - dst[iris]) / 0.8
            got = np.array([warp.map_x[y, x], warp.map_y[y, x]])
            assert np.abs(got - expected).max() < 0.6


def test_an_iris_where_the_source_has_it_changes_nothing():
    src = np.asarray(MEAN_SHAPE, np.float32) * 300
    rng = np.random.default_rng(0)
    dst = src * 0.8 + (20, 10) + rng.normal(0, 1.0, src.shape).astype(np.float32)
    dst = neutral_irises(src, dst)
    tri, box = np.asarray(TRIANGLES), (0, 0, 260, 260)
    a, b = gaze_warp(src, dst, tri, box), build_warp_map(src, dst, tri, box)
    assert np.allclose(a.map_x, b.map_x, atol=1e-3) and np.allclose(a.map_y, b.map_y, atol=1e-3)


def test_keep_gaze_puts_the_iris_where_the_target_has_it_in_the_opening():
    target = face_points(250, 110, 60, 0.2)
    rng = np.random.default_rng(1)
    drawn = target * 1.1 + rng.normal(0, 2.0, target.shape).astype(np.float32)
    out = keep_gaze(target, drawn)
    for eye, iris in EYE_OPENINGS:
        # Along the corner-to-corner axis the iris keeps its share of the way.
        def share(p: np.ndarray, eye=eye, iris=iris) -> float:
            a, b = p[eye[0]], p[eye[len(eye) // 2]]
            return float((p[iris] - a) @ (b - a) / ((b - a) @ (b - a)))

        assert abs(share(out) - share(target)) < 0.03


def test_the_command_line_turns_it_off(monkeypatch):
    from types import SimpleNamespace

    import facestream.filters.enroll as enroll
    from facestream.filters.swap import build_swap_stage

    monkeypatch.setattr(enroll, "enroll_source", lambda paths, fn: None)
    args = SimpleNamespace(source="me.jpg", no_follow_gaze=True)
    assert build_swap_stage(args, None).options.follow_gaze is False
    assert build_swap_stage(SimpleNamespace(source="me.jpg"), None).options.follow_gaze is True


def half_closed(points: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """A target frame with its own eyes open, the upper lids (lid skin) drawn `share` of the
    way down each opening while `points` keep the lids open; and the mask of that lid band."""
    image = draw_target(points)
    band = np.zeros(image.shape[:2], np.uint8)
    for eye, _ in EYE_OPENINGS:
        upper, lower = points[eye[1:4]], points[eye[5:8]][::-1]
        edge = upper + share * (lower - upper)
        band |= polygon_mask(np.concatenate([points[eye[:5]], edge[::-1]]), image.shape[:2])
    image[band > 0] = LIDS
    return image, cv2.erode(band, np.ones((3, 3), np.uint8)) > 0


def test_a_half_closed_eye_shows_no_iris_through_the_lid(source, monkeypatch):
    """Mid-blink the source's eye closes in the warp: under the target's half-lowered lid
    lies lid skin, not the source's open iris mixed with the target's lids (a ghost)."""
    points = face_points(250, 110, 60)
    monkeypatch.setattr(Blinks, "update", lambda self, readings: np.full(2, 0.5))
    output, band = half_closed(points, 0.4)
    composite_face(output, points, source, SwapOptions(), TrackState())
    luma = cv2.cvtColor(output, cv2.COLOR_RGB2GRAY)[band].astype(int)
    lids = int(cv2.cvtColor(np.uint8([[LIDS]]), cv2.COLOR_RGB2GRAY)[0, 0])
    assert luma.min() >= lids - 20


LASH_LINE = (35, 25, 25)


def wide_eyes(points: np.ndarray, raise_by: float) -> np.ndarray:
    """A target frame whose real eye openings reach `raise_by` eye widths above the upper
    lid points of `points` (negative: stop short of them), under a dark lash line, with a
    dark iris in the middle: as a wide-open eye the landmark model's lids stop short of."""
    image = skin(360, 480, 2)
    real = points.copy()
    for eye, _ in EYE_OPENINGS:
        real[eye[1:4], 1] -= raise_by * eye_width(points, eye)
        lid = np.round(real[eye[:5]]).astype(np.int32)
        cv2.polylines(image, [lid - (0, 2)], False, LASH_LINE, 4)
    draw_eyes(image, real, iris=True)
    return image


@pytest.mark.parametrize("raise_by", [0.12, -0.06])
def test_the_upper_lids_go_to_where_the_white_of_the_eye_ends(raise_by):
    """The model's lids stop short of a wide-open eye (d10), and lie on the lash line of a
    made-up photo (img7): the upper lid points go to the white's upper edge."""
    points = face_points(250, 110, 60)
    found, _ = locate_irises(wide_eyes(points, raise_by), points)
    for eye, _ in EYE_OPENINGS:
        moved = points[eye[1:4]] - found[eye[1:4]]
        width = eye_width(points, eye)
        # Within about a pixel (0.04 of this 39-pixel eye).
        assert np.all(np.abs(moved[:, 1] / width - raise_by) < 0.04), moved / width
        assert np.array_equal(found[eye[[0, 4, 5, 6, 7]]], points[eye[[0, 4, 5, 6, 7]]])
    unmoved, _ = locate_irises(wide_eyes(points, raise_by), points, lids=False)
    for eye, _ in EYE_OPENINGS:
        assert np.array_equal(unmoved[eye], points[eye])


def test_lids_on_the_white_or_over_a_closed_eye_stay():
    points = face_points(250, 110, 60)
    for image in (wide_eyes(points, 0.0), lashed(points), blinked(points)):
        found, _ = locate_irises(image, points)
        for eye, _ in EYE_OPENINGS:
            assert np.abs(found[eye] - points[eye]).max() < 0.04 * eye_width(points, eye)


def test_a_wide_open_target_eye_is_drawn_wide_open(source):
    """Between the landmarks' upper lid and the target's real one the output shows the
    source's eye (white and iris), not the skin above its lid (a sleepy eye)."""
    points = face_points(250, 110, 60)
    band = np.zeros((360, 480), np.uint8)
    for eye, _ in EYE_OPENINGS:
        real = points[eye].copy()
        real[1:4, 1] -= 0.12 * eye_width(points, eye)
        band |= polygon_mask(real, band.shape) & ~polygon_mask(points[eye], band.shape)
    band = cv2.erode(band, np.ones((3, 3), np.uint8)) > 0
    skin_like = {}
    for lids in (True, False):
        output = wide_eyes(points, 0.12)
        composite_face(output, points, source, SwapOptions(open_lids=lids), TrackState())
        distance = np.abs(output[band].astype(int) - SKIN).sum(axis=1)
        skin_like[lids] = float(np.mean(distance < 60))
    assert skin_like[True] < 0.25 < 0.75 < skin_like[False], skin_like


@pytest.mark.data
def test_the_lids_of_d10s_wide_open_eyes_go_up(shared_data):
    """liveportrait/d10, frames 100 (surprise, white above the irises) and 268 (a hard
    glance, brows raised): the shipped model's upper lids lie on the irises' tops or in the
    white, and the search moves them up to the lash line."""
    import av

    from facestream.models.engine import LandmarkEngine

    engine = LandmarkEngine("hrnet128_lite", device="cpu", num_threads=1)
    lifts = {}
    with av.open(str(shared_data / "videos" / "liveportrait" / "d10.mp4")) as clip:
        for i, frame in enumerate(clip.decode(video=0)):
            if i in (100, 268):
                image = frame.to_ndarray(format="rgb24")
                engine.reset()
                points = engine.track(image)[0].points
                found, _ = locate_irises(image, points)
                lifts[i] = [
                    float(points[eye[2], 1] - found[eye[2], 1]) / eye_width(points, eye)
                    for eye, _ in EYE_OPENINGS
                ]
            if i >= 268:
                break
    assert min(lifts[100]) > 0.1 and min(lifts[268]) > 0.04, lifts


def open_track(rng: np.random.Generator) -> Blinks:
    """A track that saw both eyes open for 2 s: readings (0.115, 0.47) and (0.11, 0.44),
    which vary by 8 % from frame to frame (as liveportrait/d0's open eyes: a glance then
    falls by 11-14 deviations)."""
    blinks = Blinks()
    for _ in range(50):
        blinks.update(np.array([[0.115, 0.47], [0.11, 0.44]]) * rng.normal(1.0, 0.08, (2, 2)))
    return blinks


@pytest.mark.parametrize(
    ("shares", "closed"),
    [
        # d0 frame 24: a hard glance to the corner, one eye's readings at half their level
        # (the iris pushed into the corner, little white beside it), the other's at 3/4.
        (((0.52, 0.45), (0.78, 0.78)), (False, False)),
        # d3: a wink, the closed eye's white gone, the other eye as it was.
        (((0.47, 0.21), (0.95, 0.95)), (True, False)),
        # d9: a blink under heavy lashes, both eyes' readings at half their level.
        (((0.5, 0.45), (0.55, 0.45)), (True, True)),
    ],
)
def test_one_eye_narrowed_by_a_glance_is_not_a_blink(shares, closed):
    """A fall of one eye's readings alone, as far as a glance narrows it, is no blink; a
    wink falls further, and both eyes falling together is a blink."""
    rng = np.random.default_rng(8)
    blinks = open_track(rng)
    readings = np.array([[0.115, 0.47], [0.11, 0.44]]) * np.array(shares)
    for _ in range(3):
        result = blinks.update(readings)
        assert np.array_equal(result >= 0.5, closed) and np.all((result == 0) | (result >= 0.5))


@pytest.mark.data
def test_d0s_hard_glance_is_not_a_blink(shared_data):
    """liveportrait/d0 frames 20-25 (a hard glance to the picture's left, narrow eyes), on
    the engine's points through the file path's fixed-lag smoother, as `facestream swap`:
    the picture-left eye's readings fall to half their level, the other's to 3/4, and the
    target's own eye was faded in over the source's (a ghost eye)."""
    import av

    from facestream.filters.smoothing import make_smoother_factory
    from facestream.models.engine import LandmarkEngine

    engine = LandmarkEngine("hrnet128_lite", device="cpu", num_threads=1)
    smoother = make_smoother_factory("fixed-lag")()
    frames: list[np.ndarray] = []
    smoothed: dict[int, np.ndarray] = {}
    with av.open(str(shared_data / "videos" / "liveportrait" / "d0.mp4")) as clip:
        for i, frame in enumerate(clip.decode(video=0)):
            if i > 30:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
            face = engine.track(frames[-1])[0]
            results = [smoother.update(face.points, face.confidence, i / 25.0)]
            for result in results + (list(smoother.flush()) if i == 30 else []):
                if result is not None:
                    smoothed[round(result.t * 25.0)] = np.asarray(result.points, np.float32)
    blinks = Blinks()
    closed = {}
    for i in range(26):
        closed[i] = blinks.update(locate_irises(frames[i], smoothed[i])[1])
    assert all(np.all(closed[i] == 0.0) for i in range(15, 26)), closed


PALE_LIDS = (245, 238, 246)  # overexposed lid skin (facenet/video.mp4's young man)


def pale_lids(points: np.ndarray) -> np.ndarray:
    """A target frame whose eye openings hold only pale lid skin: an eye looking down, seen
    from above, nearly closed, while `points` keep it open as the landmark model does."""
    image = skin(360, 480, 2)
    for eye, _ in EYE_OPENINGS:
        image[polygon_mask(points[eye], image.shape[:2]) > 0] = PALE_LIDS
    return image


def test_an_eye_too_small_to_read_keeps_its_landmarks():
    points = face_points(90, 190, 130, 0.2)  # eyes 14 px wide, the irises aside
    found, readings = locate_irises(draw_target(points), face_points(90, 190, 130))
    assert np.array_equal(found, face_points(90, 190, 130))
    assert np.all(np.isnan(readings))
    assert eye_width(points, EYE_OPENINGS[0][0]) < MIN_READ_WIDTH


def test_an_eye_not_read_is_open_and_its_history_stays():
    blinks = open_track(np.random.default_rng(8))
    level = blinks.level.copy()
    closed = blinks.update(np.array([[np.nan, np.nan], [0.01, 0.02]]))
    assert closed[0] == 0.0 and closed[1] == 1.0  # the eye read, with nothing to see, closes
    assert np.array_equal(blinks.level[0], level[0])
    # A track that starts too small learns an eye's open level from its first reading.
    fresh = Blinks()
    assert np.all(fresh.update(np.full((2, 2), np.nan)) == 0.0)
    assert np.all(fresh.update(np.array([[0.11, 0.45], [0.1, 0.4]])) == 0.0)
    assert np.allclose(fresh.level, [[0.11, 0.45], [0.1, 0.4]])


def test_a_small_eye_seen_from_above_is_no_white_disc(source):
    """facenet/video.mp4: a small face (eyes 9-17 px) looking down. Its openings held only
    pale lid skin, read as a closed eye, and the target's own lid was kept inside the
    source's eye: a white disc with no iris. Too small to read, it is drawn as the source's
    eye where the landmarks place it, as without the gaze step."""
    points = face_points(90, 190, 130)
    outputs = {}
    for follow in (True, False):
        state = TrackState()
        for _ in range(5):  # the track saw the eyes open
            composite_face(
                draw_target(points), points, source, SwapOptions(follow_gaze=follow), state
            )
        outputs[follow] = pale_lids(points)
        composite_face(outputs[follow], points, source, SwapOptions(follow_gaze=follow), state)
    inside = openings(points, outputs[True].shape)
    luma = cv2.cvtColor(outputs[True], cv2.COLOR_RGB2GRAY)[inside]
    assert np.mean(luma >= 225) < 0.1 and luma.min() < 120  # the source's iris, no disc
    # The same eye as without the gaze step, but for the source's iris and lids found in
    # its own photo (`source_eyes`).
    diff = np.abs(outputs[True][inside].astype(int) - outputs[False][inside])
    assert diff.mean() <= 5 and diff.max() <= 16
