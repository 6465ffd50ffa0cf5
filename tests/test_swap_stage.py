"""The swap compositor stage on synthetic faces: frame contract, mouth, eyes, feathering."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

import facestream.filters.swap as swap_module
from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import enroll_source, frontality
from facestream.filters.swap import (
    BLUR_PAD,
    COLOUR_EVERY,
    COLOUR_MEMORY,
    FORGET_AFTER_FRAMES,
    TURN_FADE_FRAMES,
    TURNED_OFF,
    TURNED_ON,
    SwapOptions,
    SwapStage,
    TrackState,
    build_swap_stage,
    composite_face,
    patch_box,
)
from facestream.models.landmarks import IBUG68, INNER_MOUTH, LEFT_EYE, MEAN_SHAPE, RIGHT_EYE
from facestream.stream.frames import Frame


@dataclass
class Face:
    track_id: int
    points: np.ndarray
    trust: float = 1.0


def face_points(scale: float, x: float, y: float, mouth_open: float = 0.0) -> np.ndarray:
    """MEAN_SHAPE placed in a frame, the inner lower lip lowered by `mouth_open` x scale."""
    p = np.asarray(MEAN_SHAPE, np.float32).copy()
    mouth = np.asarray(INNER_MOUTH)
    lower = mouth[p[mouth, 1] > p[mouth, 1].mean()]
    p[lower, 1] += mouth_open
    return p * scale + (x, y)


def texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.fixture
def source(tmp_path: Path):
    path = tmp_path / "source.png"
    cv2.imwrite(str(path), texture(420, 400, 1))
    points = face_points(300, 50, 60)
    return enroll_source(path, lambda image: [points])


def interior(polygon: np.ndarray, shape: tuple[int, int], margin: int) -> np.ndarray:
    """Pixels at least `margin` px inside `polygon`."""
    mask = polygon_mask(polygon, shape)
    return cv2.erode(mask, np.ones((2 * margin + 1,) * 2, np.uint8)) > 0


def run_stage(stage: SwapStage, image: np.ndarray, faces: list[Face]) -> np.ndarray:
    frame = Frame(pts=7, time_base=None, index=0, faces=faces)
    frame.image = image.copy()
    out = stage.process(frame)
    assert out.pts == 7
    return out.image


def test_stage_keeps_size_dtype_and_pixels_outside_the_face(source):
    image = texture(360, 480, 2)
    points = face_points(200, 140, 80)
    out = run_stage(SwapStage(source), image, [Face(0, points)])
    assert out.shape == image.shape and out.dtype == np.uint8
    changed = np.any(out != image, axis=2)
    assert changed.sum() > 10_000
    # Nothing changes outside the face's landmark box (grown by the feather room).
    x0, y0 = points.min(axis=0) - 20
    x1, y1 = points.max(axis=0) + 20
    outside = np.ones(changed.shape, bool)
    outside[int(y0) : int(y1), int(x0) : int(x1)] = False
    assert not changed[outside].any()


def test_frame_without_faces_is_returned_untouched(source):
    image = texture(120, 160, 3)
    assert np.array_equal(run_stage(SwapStage(source), image, []), image)


@pytest.mark.parametrize("shape_strength", [0.0, 1.0])
def test_inner_mouth_is_the_target_pixel_exact(source, shape_strength):
    image = texture(360, 480, 4)
    points = face_points(220, 130, 60, mouth_open=0.08)
    options = SwapOptions(shape_strength=shape_strength)
    out = run_stage(SwapStage(source, options), image, [Face(0, points)])
    inside = interior(points[INNER_MOUTH], image.shape[:2], margin=4)
    assert inside.sum() > 200
    assert np.array_equal(out[inside], image[inside])
    # Without mouth handling the same pixels come from the source.
    plain = run_stage(SwapStage(source, SwapOptions(keep_mouth=False)), image, [Face(0, points)])
    assert not np.array_equal(plain[inside], image[inside])


def test_keep_eyes_keeps_the_target_eyes(source):
    image = texture(360, 480, 5)
    points = face_points(220, 130, 60)
    out = run_stage(SwapStage(source, SwapOptions(keep_eyes=True)), image, [Face(0, points)])
    for eye in (LEFT_EYE, RIGHT_EYE):
        inside = interior(points[eye], image.shape[:2], margin=3)
        assert inside.sum() > 20
        assert np.array_equal(out[inside], image[inside])


def test_feather_width_scales_with_face_size(source):
    def ramp(scale: float) -> int:
        image = texture(700, 700, 6)
        points = face_points(scale, 40, 40)
        res = composite_face(image, points, source, SwapOptions(shape_strength=0.0))
        assert res is not None
        centre_row = res.alpha[res.alpha.shape[0] // 2]
        return int(np.count_nonzero((centre_row > 0) & (centre_row < 1)))

    small, large = ramp(150), ramp(600)
    assert 3.3 < large / small < 4.7


def test_each_track_keeps_its_own_identity_estimate(source):
    image = texture(400, 800, 7)
    faces = [Face(3, face_points(200, 50, 80)), Face(9, face_points(220, 450, 60))]
    stage = SwapStage(source)
    out = run_stage(stage, image, faces)
    assert set(stage.tracks) == {3, 9}
    assert all(state.identity.count == 1 for state in stage.tracks.values())
    for face in faces:
        x0, y0 = face.points.min(axis=0).astype(int) + 40
        x1, y1 = face.points.max(axis=0).astype(int) - 40
        assert np.any(out[y0:y1, x0:x1] != image[y0:y1, x0:x1])


@pytest.mark.parametrize("kind", ["landmarks", "mesh", "mask"])
def test_overlays_draw_with_and_without_the_swap(source, kind):
    image = texture(360, 480, 8)
    face = [Face(0, face_points(200, 140, 80))]
    swapped = run_stage(SwapStage(source), image, face)
    for swap in (True, False):
        out = run_stage(SwapStage(source, SwapOptions(overlay=kind, swap=swap)), image, face)
        assert not np.array_equal(out, swapped if swap else image)


def test_unknown_overlay_is_refused(source):
    stage = SwapStage(source, SwapOptions(overlay="boxes"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlay"):
        run_stage(stage, texture(360, 480, 9), [Face(0, face_points(200, 140, 80))])


def test_label_is_drawn_even_without_faces(source):
    image = texture(360, 480, 10)
    out = run_stage(SwapStage(source, SwapOptions(label="synthetic face")), image, [])
    assert np.any(out[-60:, :200] != image[-60:, :200])


def test_build_swap_stage_from_cli_arguments(tmp_path: Path):
    path = tmp_path / "me.png"
    cv2.imwrite(str(path), texture(420, 400, 11))
    points = face_points(300, 50, 60)

    class Args:
        source = [path]
        overlay = "mesh"
        keep_eyes = True
        no_swap = False
        label = None

    stage = build_swap_stage(Args(), lambda image: [points])
    assert stage.options.overlay == "mesh" and stage.options.keep_eyes


def test_colour_average_follows_a_lighting_change_within_a_few_frames():
    state = TrackState()
    dark, bright = np.zeros((3, 4), np.float32), np.ones((3, 4), np.float32)
    state.smooth_colour(dark)
    values = [float(state.smooth_colour(bright)[0, 0]) for _ in range(10)]
    assert 0 < values[0] < 0.5  # one frame does not jump
    assert values[-1] > 0.9  # ten frames later it has followed


def test_a_colour_measure_weighs_the_past_as_the_frames_since_the_last():
    state = TrackState()
    state.smooth_colour(np.zeros((3, 4), np.float32))
    after = state.smooth_colour(np.ones((3, 4), np.float32))
    assert np.allclose(after, 1.0 - COLOUR_MEMORY**COLOUR_EVERY)


def test_the_colour_is_measured_every_other_frame_and_held_between(monkeypatch, source):
    measured = []
    real = swap_module.stats_matrix

    def counting(*args):
        measured.append(real(*args))
        return measured[-1]

    monkeypatch.setattr(swap_module, "stats_matrix", counting)
    state, points = TrackState(), face_points(200, 140, 80)
    held = []
    for k in range(6):  # a new target frame each time: the statistics change
        composite_face(texture(360, 480, 2 + k), points, source, SwapOptions(), state)
        held.append(state.colour.copy())
    assert len(measured) == 3  # frames 0, 2, 4
    assert all(np.array_equal(held[k], held[k + 1]) for k in (0, 2, 4))
    assert not np.array_equal(held[1], held[2])
    composite_face(texture(360, 480, 2), points, source, SwapOptions())  # no track: each call
    assert len(measured) == 4


def test_stage_forgets_tracks_unseen_for_long(source):
    stage = SwapStage(source)
    image = texture(360, 480, 2)
    points = face_points(200, 140, 80)

    def show(track_id: int, index: int) -> None:
        frame = Frame(pts=index, time_base=None, index=index, faces=[Face(track_id, points)])
        frame.image = image.copy()
        stage.process(frame)

    show(0, 0)
    show(1, FORGET_AFTER_FRAMES)
    assert set(stage.tracks) == {0, 1}  # track 0 is still within the window
    show(1, FORGET_AFTER_FRAMES + 1)
    assert set(stage.tracks) == {1}


def test_decoded_frames_are_swapped_on_patches_like_the_whole_image(source):
    """A YUV frame is composited on face patches written back into its planes: the same
    picture as compositing the whole RGB image and converting all of it for the encoder,
    with every pixel away from the face left at its exact decoded value."""
    import av

    from facestream.stream.frames import to_rgb

    rgb = texture(360, 480, 2)
    decoded = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=1, dst_color_range=1
    )
    decoded.colorspace, decoded.color_range = 1, 1
    faces = [Face(0, face_points(200, 140, 80))]
    original = to_rgb(decoded)
    patched = SwapStage(source).process(Frame(None, None, 0, list(faces), source=decoded))
    assert not patched.has_pixels  # the whole frame was never converted
    whole = run_stage(SwapStage(source), original, faces)
    # The whole-image path as the encoder sees it: all of it through 4:2:0 and back.
    encoded = to_rgb(
        av.VideoFrame.from_ndarray(whole, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=1, dst_color_range=1
        ),
    )
    got = patched.read_image().astype(int)
    changed = np.any(whole != original, axis=2)
    near = cv2.dilate(changed.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert np.array_equal(got[~near], original[~near])
    # Where the face changed, the pixels of the whole-image path after its conversion, up
    # to a level of YUV rounding (that conversion alone also moves the untouched
    # background, by up to 13 levels on this texture). The random-colour source reads as
    # hair above the brows (`hair_free`), so alpha has edges inside the face too, where
    # 4:2:0 rounding differs by one level more.
    error = np.abs(got - encoded)[changed]
    assert error.max() <= 5 and error.mean() < 0.5


@pytest.mark.parametrize("blend", ["feather", "laplacian"])
def test_the_compositing_box_lies_inside_the_stages_patch(source, blend):
    """The stage converts only `patch_box` around a face, so the box the compositor works
    in must lie inside it; with the feather blend that box is the mask's box with
    `BLUR_PAD` to spare on every side (room for the sharpness blurs)."""
    options = SwapOptions(blend=blend)
    target = face_points(200, 140, 80)
    result = composite_face(texture(480, 560, 3), target, source, options, TrackState())
    assert result is not None
    x0, y0, x1, y1 = result.box
    px0, py0, px1, py1 = patch_box(target, options)
    assert px0 <= x0 and py0 <= y0 and x1 <= px1 and y1 <= py1
    if blend == "feather":
        rows = np.flatnonzero((result.alpha > 0).any(axis=1))
        cols = np.flatnonzero((result.alpha > 0).any(axis=0))
        height, width = result.alpha.shape
        assert min(rows[0], cols[0], height - 1 - rows[-1], width - 1 - cols[-1]) >= BLUR_PAD


def turned(points: np.ndarray, squeeze: float) -> np.ndarray:
    """The face with its image-left half squeezed towards the nose: a head turned away."""
    out = points.copy()
    nose = points[list(IBUG68)][30, 0]
    left = out[:, 0] < nose
    out[left, 0] = nose + (out[left, 0] - nose) * squeeze
    return out


def test_a_turned_face_fades_out_and_back_without_blinking():
    state = TrackState()
    frontal = face_points(200, 140, 80)
    assert frontality(turned(frontal, 0.1)) < TURNED_OFF < TURNED_ON < frontality(frontal)
    between = turned(frontal, 0.22)
    assert TURNED_OFF < frontality(between) < TURNED_ON
    shown = [state.fade_for_turn(frontal)]
    shown += [state.fade_for_turn(turned(frontal, 0.1)) for _ in range(TURN_FADE_FRAMES + 2)]
    shown += [state.fade_for_turn(between) for _ in range(TURN_FADE_FRAMES + 2)]
    assert shown[0] == 1.0
    assert np.all(np.diff(shown[: TURN_FADE_FRAMES + 1]) < 0) and shown[TURN_FADE_FRAMES] == 0.0
    assert max(shown[TURN_FADE_FRAMES:]) == 0.0  # between the limits it stays as it was
    # A new track starts where it is: no fade-in from nothing for a frontal face.
    assert (
        TrackState().fade_for_turn(between) == 1.0
        and TrackState().fade_for_turn(turned(frontal, 0.1)) == 0.0
    )


def test_a_face_turned_away_is_left_as_it_is_unless_asked(source):
    image = texture(360, 480, 2)
    face = [Face(0, turned(face_points(200, 140, 80), 0.1))]
    assert np.array_equal(run_stage(SwapStage(source), image, face), image)
    swapped = run_stage(SwapStage(source, SwapOptions(swap_turned=True)), image, face)
    assert np.any(swapped != image, axis=2).sum() > 5_000
