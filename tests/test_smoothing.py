"""The landmark smoothers on synthetic trajectories with a known truth, for every mode."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from facestream.filters.one_euro import OneEuroFilter
from facestream.filters.smoothing import (
    FIXED_LAG_FRAMES,
    FLOW_NOISE,
    KalmanSmoother,
    PassThrough,
    Smoother,
    SmootherConfig,
    add_smoothing_arguments,
    make_smoother_factory,
    smoother_config,
)

FPS = 30.0
N = 128
JERK = 0.03  # face sizes per second³: the constant-acceleration variant's process noise
SMOOTHING = {
    "kalman": make_smoother_factory("kalman"),
    "fixed-lag": make_smoother_factory("fixed-lag"),
    "kalman-rigid": lambda: KalmanSmoother(SmootherConfig(rigid=True)),
    "fixed-lag-rigid": lambda: KalmanSmoother(SmootherConfig(rigid=True, lag_frames=3)),
    "kalman-acceleration": lambda: KalmanSmoother(SmootherConfig(order=3, local_accel=JERK)),
    "fixed-lag-acceleration": lambda: KalmanSmoother(
        SmootherConfig(order=3, local_accel=JERK, lag_frames=3)
    ),
}


@pytest.fixture(params=list(SMOOTHING))
def factory(request: pytest.FixtureRequest) -> Callable[[], Smoother]:
    return SMOOTHING[request.param]


def face(rng: np.random.Generator) -> np.ndarray:
    """128 points spread over a 100-pixel face centred at (320, 240)."""
    return rng.uniform(-50, 50, (N, 2)) + (320.0, 240.0)


def drive(
    smoother: Smoother,
    times: np.ndarray,
    points: list[np.ndarray | None],
    confidence: list[np.ndarray] | None = None,
    motions: list[np.ndarray | None] | None = None,
) -> dict[float, np.ndarray]:
    """Feed every frame (with the head's motion from the previous one, if given), then
    flush; smoothed points by frame time."""
    out: dict[float, np.ndarray] = {}
    for k, (t, p) in enumerate(zip(times, points, strict=True)):
        c = None if confidence is None or p is None else confidence[k]
        m = None if motions is None else motions[k]
        res = smoother.update(None if p is None else p.astype(np.float32), c, float(t), m)
        if res is not None:
            out[res.t] = res.points
    for res in smoother.flush():
        out[res.t] = res.points
    return out


def second_difference(track: np.ndarray) -> float:
    return float(np.linalg.norm(track[2:] - 2 * track[1:-1] + track[:-2], axis=-1).mean())


def test_still_face_converges_and_jitter_drops(factory: Callable[[], Smoother]) -> None:
    rng = np.random.default_rng(1)
    truth = face(rng)
    times = np.arange(120) / FPS
    noisy = [truth + rng.normal(0, 0.4, truth.shape) for _ in times]
    out = drive(factory(), times, noisy)
    smoothed = np.stack([out[t] for t in times])[60:]
    raw = np.stack(noisy)[60:]
    assert second_difference(smoothed) < 0.3 * second_difference(raw)
    assert np.abs(smoothed - truth).mean() < 0.5 * np.abs(raw - truth).mean()


def test_constant_velocity_is_followed_with_bounded_lag(factory: Callable[[], Smoother]) -> None:
    rng = np.random.default_rng(2)
    start = face(rng)
    times = np.arange(90) / FPS
    velocity = np.array([90.0, -45.0])  # pixels per second: 3 px per frame in x
    truth = [start + velocity * t for t in times]
    out = drive(factory(), times, [p + rng.normal(0, 0.3, p.shape) for p in truth])
    error = np.stack([out[t] - p for t, p in zip(times, truth, strict=True)])[30:]
    # The mean error along the motion is the lag: well under a frame (3 px).
    assert abs(error[..., 0].mean()) < 0.5
    assert np.linalg.norm(error, axis=-1).mean() < 1.0


def test_sudden_jump_resets_instead_of_dragging(factory: Callable[[], Smoother]) -> None:
    rng = np.random.default_rng(3)
    first, second = face(rng), face(rng) + (400.0, 100.0)  # another face, far away
    times = np.arange(60) / FPS
    frames = [(first if k < 30 else second) + rng.normal(0, 0.3, (N, 2)) for k in range(60)]
    smoother = factory()
    out = drive(smoother, times, frames)
    # From the jump on, the output is on the new face; before it, never pulled towards it.
    assert np.abs(out[times[30]] - second).max() < 2.0
    assert np.abs(out[times[29]] - first).max() < 2.0
    assert smoother.resets == 1


def test_missing_frames_are_predicted(factory: Callable[[], Smoother]) -> None:
    rng = np.random.default_rng(4)
    start = face(rng)
    times = np.arange(80) / FPS
    velocity = np.array([60.0, 30.0])
    truth = [start + velocity * t for t in times]
    frames: list[np.ndarray | None] = [p + rng.normal(0, 0.3, p.shape) for p in truth]
    frames[40:46] = [None] * 6
    out = drive(factory(), times, frames)
    assert set(out) == set(times.tolist())  # one output per frame, missed ones included
    for k in range(40, 46):
        assert np.linalg.norm(out[times[k]] - truth[k], axis=-1).mean() < 1.5


def test_variable_frame_rate_uses_the_time_steps(factory: Callable[[], Smoother]) -> None:
    rng = np.random.default_rng(5)
    start = face(rng)
    times = np.cumsum(rng.choice([1 / 60, 1 / 30, 1 / 15, 1 / 10], size=90))
    velocity = np.array([90.0, 0.0])
    truth = [start + velocity * t for t in times]
    out = drive(factory(), times, [p + rng.normal(0, 0.3, p.shape) for p in truth])
    error = np.stack([out[t] - p for t, p in zip(times, truth, strict=True)])[30:]
    # A filter that counted frames instead of seconds would be off by up to 6 px here.
    assert np.linalg.norm(error, axis=-1).mean() < 1.0


def test_low_confidence_outliers_barely_move_the_output(
    factory: Callable[[], Smoother],
) -> None:
    rng = np.random.default_rng(6)
    truth = face(rng)
    times = np.arange(60) / FPS
    frames, confidence = [], []
    for k in range(60):
        p, c = truth + rng.normal(0, 0.3, truth.shape), np.ones(N, np.float32)
        if k >= 20 and k % 3 == 0:
            p[:10] += 30.0  # 10 points thrown off by an occlusion
            c[:10] = 0.02
        frames.append(p)
        confidence.append(c)
    out = drive(factory(), times, frames, confidence)
    worst = max(np.abs(out[t][:10] - truth[:10]).max() for t in times[20:])
    assert worst < 3.0  # 10% of the outliers' 30 px


@pytest.mark.parametrize("mode", ["kalman", "fixed-lag", "off"])
def test_outputs_come_in_order_with_the_documented_lag(mode: str) -> None:
    rng = np.random.default_rng(7)
    smoother = make_smoother_factory(mode)()
    expected_lag = FIXED_LAG_FRAMES if mode == "fixed-lag" else 0
    assert smoother.lag_frames == expected_lag
    times = np.arange(20) / FPS
    emitted = []
    for k, t in enumerate(times):
        res = smoother.update(face(rng), np.ones(N, np.float32), float(t))
        if k < expected_lag:
            assert res is None
        else:
            assert res is not None and res.t == times[k - expected_lag]
            emitted.append(res.t)
    emitted += [res.t for res in smoother.flush()]
    assert emitted == times.tolist()


def test_off_passes_points_through_and_holds_them() -> None:
    rng = np.random.default_rng(8)
    p = face(rng).astype(np.float32)
    smoother = make_smoother_factory("off")()
    assert isinstance(smoother, PassThrough)
    assert smoother.update(None, None, 0.0) is None
    np.testing.assert_array_equal(smoother.update(p, None, 0.1).points, p)
    np.testing.assert_array_equal(smoother.update(None, None, 0.2).points, p)
    smoother.reset()
    assert smoother.update(None, None, 0.3) is None


def test_reset_forgets_the_track(factory: Callable[[], Smoother]) -> None:
    rng = np.random.default_rng(9)
    smoother = factory()
    for k in range(10):
        smoother.update(face(rng), None, k / FPS)
    smoother.reset()
    assert smoother.flush() == []
    assert smoother.update(None, None, 1.0) is None
    fresh = face(rng)
    first = smoother.update(fresh, None, 2.0) or smoother.flush()[0]
    np.testing.assert_allclose(first.points, fresh, atol=1e-3)


def test_number_of_points_is_a_parameter() -> None:
    smoother = make_smoother_factory("kalman", num_points=68)()
    rng = np.random.default_rng(10)
    assert smoother.update(rng.uniform(0, 100, (68, 2)), None, 0.0).points.shape == (68, 2)
    with pytest.raises(ValueError, match="shape"):
        smoother.update(rng.uniform(0, 100, (128, 2)), None, 0.1)


def test_times_must_increase() -> None:
    smoother = make_smoother_factory("kalman")()
    smoother.update(face(np.random.default_rng(11)), None, 1.0)
    with pytest.raises(ValueError, match="increase"):
        smoother.update(None, None, 1.0)


def test_factory_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="kalman, flow, fixed-lag, off"):
        make_smoother_factory("median")
    with pytest.raises(ValueError, match="positive"):
        make_smoother_factory("kalman", strength=0.0)


def test_flow_mode_is_the_live_filter_moved_by_the_pixels() -> None:
    flow, kalman = smoother_config("flow"), smoother_config("kalman")
    assert flow.flow_noise > 0 and replace(flow, flow_noise=0.0) == kalman
    assert make_smoother_factory("flow")().uses_motion
    assert not make_smoother_factory("kalman")().uses_motion
    assert not make_smoother_factory("off")().uses_motion


def test_strength_trades_stillness_for_following() -> None:
    rng = np.random.default_rng(12)
    truth = face(rng)
    times = np.arange(90) / FPS
    noisy = [truth + rng.normal(0, 0.4, truth.shape) for _ in times]
    jitters = []
    for strength in (0.5, 2.0):
        out = drive(make_smoother_factory("kalman", strength)(), times, noisy)
        jitters.append(second_difference(np.stack([out[t] for t in times])[30:]))
    assert jitters[1] < jitters[0]


def test_cli_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_smoothing_arguments(parser, default_mode="fixed-lag")
    args = parser.parse_args([])
    assert (args.smooth, args.smooth_strength) == ("fixed-lag", 1.0)
    args = parser.parse_args(["--smooth", "off", "--smooth-strength", "2"])
    assert (args.smooth, args.smooth_strength) == ("off", 2.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["--smooth", "median"])


def test_one_euro_peer_smooths_a_still_face() -> None:
    rng = np.random.default_rng(13)
    truth = face(rng)
    times = np.arange(90) / FPS
    noisy = [truth + rng.normal(0, 0.4, truth.shape) for _ in times]
    out = drive(OneEuroFilter(min_cutoff=1.0, beta=0.5), times, noisy)
    smoothed = np.stack([out[t] for t in times])[30:]
    assert second_difference(smoothed) < 0.5 * second_difference(np.stack(noisy)[30:])


def delay(out: dict[float, np.ndarray], times: np.ndarray, truth: np.ndarray) -> float:
    """Frames d (sub-frame) that best align out[t + d] with truth[t], after a warm-up."""
    smoothed = np.stack([out[t] for t in times])
    n = len(times) - 40
    errors = [np.mean((smoothed[30 + d : 30 + d + n] - truth[30 : 30 + n]) ** 2) for d in range(5)]
    k = int(np.clip(np.argmin(errors), 1, 3))
    e0, e1, e2 = errors[k - 1 : k + 2]
    return k + 0.5 * (e0 - e2) / (e0 - 2 * e1 + e2)


@pytest.mark.parametrize(("amplitude", "hz"), [(40.0, 0.5), (20.0, 1.5)])
def test_live_default_follows_a_turning_head_within_a_frame(amplitude: float, hz: float) -> None:
    # The live tuning spends its budget of one frame of lag on stillness: the head's motion
    # (up to 6 px per frame on this 100-px face) must still come through within it.
    rng = np.random.default_rng(14)
    start = face(rng)
    times = np.arange(150) / FPS
    shift = amplitude * np.sin(2 * np.pi * hz * times)
    truth = np.stack([start + (s, 0.5 * s) for s in shift])
    noisy = truth + rng.normal(0, 0.4, truth.shape)
    out = drive(make_smoother_factory("kalman")(), times, list(noisy))
    assert 0.0 < delay(out, times, truth) <= 1.0


def test_constant_acceleration_model_follows_acceleration_closer() -> None:
    rng = np.random.default_rng(15)
    start = face(rng)
    times = np.arange(90) / FPS
    truth = [start + np.array([120.0, 60.0]) * t**2 for t in times]  # accelerating face
    noisy = [p + rng.normal(0, 0.3, p.shape) for p in truth]
    errors = []
    for config in (SmootherConfig(), SmootherConfig(order=3, local_accel=JERK)):
        out = drive(KalmanSmoother(config), times, noisy)
        error = [np.abs(out[t] - p).mean() for t, p in zip(times, truth, strict=True)]
        errors.append(np.mean(error[30:]))
    # Constant velocity trails an accelerating face; constant acceleration does not.
    assert errors[1] < 0.5 * errors[0]


def turning_head(rng: np.random.Generator, times: np.ndarray) -> np.ndarray:
    """A face that rotates (up to 0.3 rad) and moves (up to 20 px) at once: rigid motion."""
    start = face(rng)
    centre = start.mean(axis=0)
    frames = []
    for t in times:
        a, s = 0.3 * np.sin(2 * np.pi * 0.5 * t), 20.0 * np.sin(2 * np.pi * 0.7 * t)
        rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        frames.append((start - centre) @ rotation.T + centre + (s, 0.3 * s))
    return np.stack(frames)


def test_live_rigid_split_beats_the_per_point_model_on_a_turning_head() -> None:
    # The live default filters the face's similarity transform (fitted to all points, so
    # their own noise averages out) and the shape in its frame: on rigid motion it must be
    # both stiller and earlier than the per-point model it replaced (the old default).
    rng = np.random.default_rng(16)
    times = np.arange(150) / FPS
    truth = turning_head(rng, times)
    noisy = list(truth + rng.normal(0, 0.4, truth.shape))
    results = []
    for make in (
        make_smoother_factory("kalman"),
        lambda: KalmanSmoother(SmootherConfig(strength=4)),
    ):
        out = drive(make(), times, noisy)
        smoothed = np.stack([out[t] for t in times])[30:]
        results.append((second_difference(smoothed), delay(out, times, truth)))
    (live_jitter, live_delay), (point_jitter, point_delay) = results
    assert live_jitter < 0.8 * point_jitter
    assert 0.0 < live_delay < point_delay <= 1.0


def test_live_default_follows_the_mouth_within_three_frames() -> None:
    # The price of the live default's stillness: expression (the shape in the head's frame)
    # follows later than the head. Bounded here so that it cannot drift further unnoticed.
    rng = np.random.default_rng(17)
    times = np.arange(150) / FPS
    truth = np.repeat(face(rng)[None], len(times), axis=0)
    mouth = np.arange(20)
    truth[:, mouth, 1] += (10.0 * (1 - np.cos(2 * np.pi * 1.5 * times)) / 2)[:, None]
    noisy = list(truth + rng.normal(0, 0.4, truth.shape))
    out = drive(make_smoother_factory("kalman")(), times, noisy)
    mouth_out = {t: p[mouth] for t, p in out.items()}
    assert 1.0 < delay(mouth_out, times, truth[:, mouth]) <= 3.2
    opening = np.ptp(np.stack([out[t] for t in times])[60:, mouth, 1], axis=0).mean()
    assert 8.0 < opening < 13.0  # the 10-px opening comes through, not flattened


def test_similarity_fit_recovers_the_transform_and_inverts() -> None:
    from facestream.filters.smoothing import (
        _apply_similarity,
        _fit_similarity,
        _invert_similarity,
    )

    rng = np.random.default_rng(18)
    template = rng.normal(size=(N, 2))
    params = np.array([0.9 * np.cos(0.4), 0.9 * np.sin(0.4), 3.0, -2.0])
    points = _apply_similarity(params, template)
    # Weights do not bias a noiseless fit; a plain matrix form checks the complex algebra.
    fitted, moment = _fit_similarity(template, points, rng.uniform(0.1, 1.0, N))
    np.testing.assert_allclose(fitted, params, atol=1e-12)
    a, b, tx, ty = params
    np.testing.assert_allclose(points, template @ np.array([[a, b], [-b, a]]) + (tx, ty))
    np.testing.assert_allclose(_invert_similarity(params, points), template, atol=1e-12)
    assert moment > 0


def similarity_matrix(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The 2x3 similarity that maps ``before`` onto ``after`` (least squares)."""
    from facestream.filters.smoothing import _fit_similarity

    a, b, tx, ty = _fit_similarity(before, after, np.ones(len(before)))[0]
    return np.array([[a, -b, tx], [b, a, ty]])


@pytest.mark.parametrize("mode", ["kalman", "fixed-lag"])
def test_head_motion_from_the_pixels_removes_the_head_lag(mode: str) -> None:
    # Given the head's motion between frames (as the pixels' flow measures it), the rigid
    # filter's head moves with it at once: no lag, and still less jitter than the landmarks.
    rng = np.random.default_rng(19)
    times = np.arange(150) / FPS
    truth = turning_head(rng, times)
    # Noise per point and shared by the whole face, as a landmark model makes it.
    noisy = truth + rng.normal(0, 0.4, truth.shape) + rng.normal(0, 0.4, (len(times), 1, 2))
    motions = [None] + [similarity_matrix(a, b) for a, b in zip(truth[:-1], truth[1:], strict=True)]
    config = replace(smoother_config(mode), rigid=True)
    results = []
    for aided in (False, True):
        smoother = KalmanSmoother(replace(config, flow_noise=FLOW_NOISE if aided else 0.0))
        out = drive(smoother, times, list(noisy), motions=motions)
        smoothed = np.stack([out[t] for t in times])[30:]
        results.append((delay(out, times, truth), second_difference(smoothed)))
    (plain_delay, _), (aided_delay, aided_jitter) = results
    assert abs(aided_delay) < 0.1 < plain_delay
    assert aided_jitter < 0.3 * second_difference(noisy[30:])


def test_head_motion_is_ignored_unless_asked_for() -> None:
    rng = np.random.default_rng(20)
    times = np.arange(40) / FPS
    frames = [face(rng) for _ in times]
    wrong = np.array([[1.0, 0.0, 50.0], [0.0, 1.0, 0.0]])  # 50 px to the right every frame
    outs = []
    for motion in (None, wrong):
        smoother = make_smoother_factory("kalman")()
        outs.append(
            [
                smoother.update(p, None, float(t), motion).points
                for t, p in zip(times, frames, strict=True)
            ]
        )
    np.testing.assert_array_equal(outs[0], outs[1])


def test_live_default_lets_the_mouth_follow_sooner_than_the_rest() -> None:
    # The scheme's mouth points keep more process noise: they follow speech sooner than the
    # same motion on other points (the brows), and sooner than without that setting.
    from facestream.models.landmarks import GROUPS

    rng = np.random.default_rng(21)
    times = np.arange(150) / FPS
    truth = np.repeat(face(rng)[None], len(times), axis=0)
    opening = (10.0 * (1 - np.cos(2 * np.pi * 1.5 * times)) / 2)[:, None]
    mouth, brows = GROUPS["mouth"], GROUPS["brows"]
    truth[:, mouth, 1] += opening
    truth[:, brows, 1] -= opening
    noisy = list(truth + rng.normal(0, 0.4, truth.shape))
    delays = {}
    for name, config in (
        ("default", smoother_config("kalman")),
        ("mouth with the rest", replace(smoother_config("kalman"), expressive=())),
    ):
        out = drive(KalmanSmoother(config), times, noisy)
        for group, index in (("mouth", mouth), ("brows", brows)):
            part = {t: p[index] for t, p in out.items()}
            delays[name, group] = delay(part, times, truth[:, index])
    # Measured: about 2.2 frames against 3.1 for both (bench/jitter.py: 1.5 against 2.6 on
    # real clips, where the mouth also moves more than its noise).
    assert delays["default", "mouth"] < delays["default", "brows"] - 0.6
    assert delays["default", "mouth"] < delays["mouth with the rest", "mouth"] - 0.6


def test_face_motion_recovers_a_known_similarity() -> None:
    import cv2

    from facestream.filters.face_flow import face_motion

    rng = np.random.default_rng(22)
    frame = cv2.GaussianBlur((rng.random((480, 640)) * 255).astype(np.uint8), (0, 0), 2.0)
    angle, zoom, shift = 0.03, 1.02, (4.0, -2.5)
    matrix = cv2.getRotationMatrix2D((320.0, 240.0), np.degrees(angle), zoom)
    matrix[:, 2] += shift
    moved = cv2.warpAffine(frame, matrix, (640, 480), flags=cv2.INTER_CUBIC)
    points = face(rng).astype(np.float32)
    found = face_motion(frame, moved, points)
    assert found is not None
    homogeneous = np.c_[points, np.ones(len(points))]
    error = np.linalg.norm(homogeneous @ found.T - homogeneous @ matrix.T, axis=1)
    assert error.max() < 0.2  # pixels, on a 100-pixel face moved by about 5
    flat = np.full((480, 640), 128, np.uint8)
    assert face_motion(flat, flat, points) is None  # nothing to follow
    assert face_motion(frame, moved[:240], points) is None  # the stream changed size
