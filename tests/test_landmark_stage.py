"""The landmark+smoothing stage: buffering contract, per-track smoothing, and the swap CLI's
stage choice (the model itself is tested in test_models_engine.py)."""

from __future__ import annotations

import argparse
import asyncio
from fractions import Fraction

import cv2
import numpy as np
import pytest

from facestream.filters.smoothing import make_smoother_factory
from facestream.models.engine import FaceLandmarks
from facestream.stream import cli_swap
from facestream.stream.errors import UserError
from facestream.stream.frames import Frame
from facestream.stream.landmark_stage import FaceSmoothing, LandmarkStage, OverlayStage
from facestream.stream.pipeline import run_pipeline

TB = Fraction(1, 25)
RNG = np.random.default_rng(0)
SHAPE = RNG.uniform(100, 200, (128, 2)).astype(np.float32)


def face(track_id: int, i: int, noise: float = 2.0) -> FaceLandmarks:
    """A face drifting right by 1 px a frame, with measurement noise."""
    points = SHAPE + [i, 0] + RNG.normal(0, noise, SHAPE.shape).astype(np.float32)
    return FaceLandmarks(track_id, points, np.ones(128, np.float32), np.zeros(4, np.float32))


class FakeEngine:
    """``track`` answers from a script: frame number -> track ids present."""

    def __init__(self, script: dict[int, list[int]]) -> None:
        self.script = script
        self.calls = 0
        self.resets = 0

    def track(self, image: np.ndarray) -> list[FaceLandmarks]:
        ids = self.script.get(self.calls, [])
        faces = [face(k, self.calls) for k in ids]
        self.calls += 1
        return faces

    def reset(self) -> None:
        self.resets += 1
        self.calls = 0


def frames(n: int) -> list[Frame]:
    out = []
    for i in range(n):
        frame = Frame(pts=2 * i, time_base=TB, index=i)  # pts need not be the index
        frame.image = np.zeros((8, 8, 3), np.uint8)
        out.append(frame)
    return out


def run(stage: object, items: list[Frame]) -> list[Frame]:
    got: list[Frame] = []
    asyncio.run(run_pipeline(iter(items), [stage], got.append))  # type: ignore[list-item]
    return got


def test_fixed_lag_stage_releases_every_frame_once_in_order():
    # Track 0 throughout, track 1 on frames 3-9, track 2 only on frame 12 (shorter than the lag).
    script = {i: [0] + ([1] if 3 <= i < 10 else []) + ([2] if i == 12 else []) for i in range(20)}
    stage = LandmarkStage(FakeEngine(script), make_smoother_factory("fixed-lag"))
    items = frames(20)
    got = run(stage, items)
    assert [f.pts for f in got] == [f.pts for f in items]
    assert all(a is b for a, b in zip(got, items, strict=True))
    assert [sorted(x.track_id for x in f.faces) for f in got] == [
        sorted(script[i]) for i in range(20)
    ]


def mean_error(mode: str) -> float:
    """Mean |error| of the output points against the noiseless drifting shape (frames 10+)."""
    stage = LandmarkStage(FakeEngine({i: [0] for i in range(40)}), make_smoother_factory(mode))
    got = run(stage, frames(40))
    return float(
        np.mean([np.abs(f.faces[0].points - SHAPE - [f.index, 0]).mean() for f in got[10:]])
    )


@pytest.mark.parametrize("mode", ["fixed-lag", "kalman"])
def test_smoothing_removes_noise(mode):
    assert mean_error(mode) < 0.9 * mean_error("off")


def test_causal_smoothing_holds_nothing():
    smoothing = FaceSmoothing(make_smoother_factory("kalman"))
    for frame in frames(5):
        frame.faces = [face(0, frame.index)]
        assert smoothing.push(frame) == [frame]
    assert smoothing.flush() == []


def test_fixed_lag_holds_frames_until_the_track_answers():
    smoothing = FaceSmoothing(make_smoother_factory("fixed-lag"))
    items = frames(6)
    released = []
    for frame in items:
        frame.faces = [face(0, frame.index)]
        released.append(len(smoothing.push(frame)))
    assert released == [0, 0, 0, 0, 1, 1]  # lag_frames = 4
    assert smoothing.flush() == items[2:]


def test_reset_forgets_tracks_and_held_frames():
    engine = FakeEngine({i: [0] for i in range(3)})
    stage = LandmarkStage(engine, make_smoother_factory("fixed-lag"))
    for frame in frames(3):
        assert stage.process(frame) == []
    stage.reset()
    assert engine.resets == 1 and stage.flush() == []


def swap_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_swap.add_arguments(parser)
    return parser.parse_args(["in.mp4", "out.mp4", *argv])


def test_stage_choice():
    assert cli_swap.build_stages(swap_args()) == []
    stages = cli_swap.build_stages(swap_args("--overlay", "mesh", "--weights", "none"))
    assert [type(s) for s in stages] == [LandmarkStage, OverlayStage]
    assert all(hasattr(s, "reset") for s in stages)  # facestream batch keeps them


def test_missing_weights_is_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setattr(
        "facestream.models.hrnet.default_weights_path", lambda name: tmp_path / f"{name}.st"
    )
    with pytest.raises(UserError, match=r"^no trained weights .* pass --weights FILE\.$"):
        cli_swap.build_stages(swap_args("--overlay", "landmarks"))


def test_source_without_a_face_is_one_sentence(tmp_path):
    import cv2

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 128, np.uint8))
    with pytest.raises(UserError, match=r"^[^\n]*wall\.png[^\n]*\.$"):
        cli_swap.build_stages(swap_args("--source", str(blank), "--weights", "none"))


def test_overlay_draws_on_a_patch_of_a_decoded_frame():
    import av

    from facestream.stream.frames import to_rgb

    decoded = av.VideoFrame.from_ndarray(np.full((240, 320, 3), 90, np.uint8), format="rgb24")
    decoded = decoded.reformat(format="yuv420p")
    original = to_rgb(decoded)
    marked = face(0, 0, noise=0.0)
    out = OverlayStage("landmarks").process(Frame(0, TB, 0, [marked], source=decoded))
    assert not out.has_pixels  # drawn on a patch: the encoder still gets the YUV frame
    image = out.read_image().astype(int)
    for x, y in np.round(marked.points).astype(int):
        r, g, b = image[y, x]
        assert g > r + 40 and g > b + 40  # a green dot on every point
    ys, xs = np.nonzero(np.any(image != original, axis=2))
    x0, y0 = marked.points.min(axis=0) - 6
    x1, y1 = marked.points.max(axis=0) + 6
    assert xs.min() >= x0 and xs.max() <= x1 and ys.min() >= y0 and ys.max() <= y1


def moving_texture(shifts: list[int]) -> list[Frame]:
    """Frames of a blurred noise picture moved right by ``shifts[i]`` px on frame i."""
    texture = cv2.GaussianBlur((RNG.random((300, 340)) * 255).astype(np.uint8), (0, 0), 2)
    out = frames(len(shifts))
    for frame, shift in zip(out, shifts, strict=True):
        grey = np.roll(texture, shift, axis=1)
        frame.image = np.repeat(grey[..., None], 3, axis=2)
    return out


def test_flow_mode_hands_the_pictures_motion_to_the_smoother():
    motions: list[np.ndarray | None] = []
    flow = make_smoother_factory("flow")

    def recording_smoother() -> object:
        smoother = flow()
        update = smoother.update

        def recorded(points, confidence, t, motion=None):  # type: ignore[no-untyped-def]
            motions.append(motion)
            return update(points, confidence, t, motion)

        smoother.update = recorded  # type: ignore[method-assign]
        return smoother

    smoothing = FaceSmoothing(recording_smoother)
    for frame in moving_texture(list(range(6))):
        frame.faces = [face(0, frame.index)]
        smoothing.push(frame)
    assert motions[0] is None  # a new track: no previous frame to compare with
    for m in motions[1:]:
        assert m is not None
        np.testing.assert_allclose(m, [[1, 0, 1], [0, 1, 0]], atol=0.1)
    # A causal mode that does not follow the pixels never gets a motion.
    assert not FaceSmoothing(make_smoother_factory("kalman")).new_smoother().uses_motion


def test_flow_mode_follows_a_starting_and_stopping_head_with_less_lag():
    """The face and the picture move together, still, then 3 px a frame, then still: the
    plain live filter trails the start and overshoots the stop; the flow mode follows."""
    shifts = list(np.cumsum([0] * 10 + [3] * 10 + [0] * 10))

    def error(mode: str) -> float:
        smoothing = FaceSmoothing(make_smoother_factory(mode))
        errors = []
        for frame, shift in zip(moving_texture(shifts), shifts, strict=True):
            points = SHAPE + [shift, 0] + RNG.normal(0, 1.0, SHAPE.shape).astype(np.float32)
            frame.faces = [FaceLandmarks(0, points, np.ones(128, np.float32), np.zeros(4))]
            (out,) = smoothing.push(frame)
            # The whole face's offset: where it is drawn, the points' own noise averaged out.
            errors.append(abs((out.faces[0].points - SHAPE)[:, 0].mean() - shift))
        return float(np.mean(errors[8:]))

    assert error("flow") < 0.5 * error("kalman")
