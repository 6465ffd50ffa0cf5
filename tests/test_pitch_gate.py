"""The swap's gate on pitch and folded landmarks (`filters/pose_gate.py`), on synthetic faces:
the 128-point mean shape given depth in MediaPipe's proportions, rotated and projected."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from test_swap_stage import Face, run_stage, texture

from facestream.filters.enroll import enroll_source
from facestream.filters.pose_gate import (
    FOLDED_TO,
    PITCHED_DOWN_OFF,
    PITCHED_DOWN_ON,
    PITCHED_UP_OFF,
    PITCHED_UP_ON,
    fold_ceiling,
    folded_share,
    nose_drop,
)
from facestream.filters.swap import TURN_FADE_FRAMES, SwapOptions, SwapStage, TrackState
from facestream.models.landmarks import GROUPS, MEAN_SHAPE, NAMES

_MEAN = np.asarray(MEAN_SHAPE, np.float64)
# Depth towards the camera, in MEAN_SHAPE units (eye distance 0.38): a dome across the
# face, the nose and lips standing out. Over the eye centres: nose tip 0.74, upper lip
# 0.40, chin 0.16 eye distances (MediaPipe's mesh on retalking/1.mp4: 0.70, 0.41, 0.21).
_DEPTH = 0.35 * np.clip(1.0 - ((_MEAN[:, 0] - 0.5) / 0.47) ** 2, 0.0, 1.0)
_DEPTH[np.asarray(GROUPS["nose"])] += 0.12
_DEPTH[NAMES.index("nose_bridge_3")] += 0.1
_DEPTH[np.asarray(GROUPS["mouth"])] += 0.09


def pitched(degrees: float, scale: float = 200.0, roll: float = 0.0) -> np.ndarray:
    """The mean face bowed `degrees` down (negative: tipped back), seen straight on from
    far away (orthographic), rolled `roll` degrees in the image, at `scale` px."""
    angle = np.radians(degrees)
    y = _MEAN[:, 1] - 0.55
    points = np.stack([_MEAN[:, 0] - 0.5, y * np.cos(angle) + _DEPTH * np.sin(angle)], 1)
    turn = np.radians(roll)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    return (points @ rotation.T * scale + (240.0, 180.0)).astype(np.float32)


def test_nose_drop_follows_the_pitch_and_nothing_else():
    drops = [nose_drop(pitched(d)) for d in range(-30, 31, 5)]
    assert np.all(np.diff(drops) > 0)  # bowing lowers the nose towards the lips
    assert nose_drop(pitched(0)) == pytest.approx(nose_drop(_MEAN), abs=1e-6)
    for other in (pitched(20, scale=90.0), pitched(20, roll=35.0), pitched(20, roll=-170.0)):
        assert nose_drop(other) == pytest.approx(nose_drop(pitched(20)), abs=1e-5)


def test_nodding_faces_keep_the_swap():
    # A talking head's nods (MediaPipe measured -16..+27 degrees on the talking-head clips,
    # where the engine's points read 0.37-0.70: they follow a pitch only part of the way).
    state = TrackState()
    shown = [state.fade_for_turn(pitched(d)) for d in [*range(-15, 16, 3), *range(15, -16, -3)]]
    assert min(shown) == 1.0
    assert PITCHED_UP_ON < nose_drop(pitched(-15)) < nose_drop(pitched(15)) < PITCHED_DOWN_ON


@pytest.mark.parametrize("far", [45.0, -40.0])
def test_a_face_pitched_far_fades_out_and_back_without_blinking(far: float):
    bowed = pitched(far)
    assert not PITCHED_UP_OFF < nose_drop(bowed) < PITCHED_DOWN_OFF
    assert folded_share(bowed) < 0.01  # the pitch alone fades it, not folds
    # Between the limits: on the far side of the hysteresis for this direction.
    near = [pitched(far * k / 100) for k in range(30, 100)]
    if far > 0:
        between = next(p for p in near if PITCHED_DOWN_ON < nose_drop(p) < PITCHED_DOWN_OFF)
    else:
        between = next(p for p in near if PITCHED_UP_OFF < nose_drop(p) < PITCHED_UP_ON)
    state = TrackState()
    shown = [state.fade_for_turn(pitched(0))]
    shown += [state.fade_for_turn(bowed) for _ in range(TURN_FADE_FRAMES + 2)]
    shown += [state.fade_for_turn(between) for _ in range(TURN_FADE_FRAMES + 2)]
    shown += [state.fade_for_turn(pitched(0)) for _ in range(TURN_FADE_FRAMES)]
    assert shown[0] == 1.0
    assert np.all(np.diff(shown[: TURN_FADE_FRAMES + 1]) < 0) and shown[TURN_FADE_FRAMES] == 0.0
    assert max(shown[TURN_FADE_FRAMES:-TURN_FADE_FRAMES]) == 0.0  # between: stays out
    assert np.all(np.diff(shown[-TURN_FADE_FRAMES - 1 :]) > 0) and shown[-1] == 1.0
    # A new track starts where it is: a face bowed far is never drawn, one between is.
    assert TrackState().fade_for_turn(bowed) == 0.0
    assert TrackState().fade_for_turn(between) == 1.0


def folded(points: np.ndarray, depth: float) -> np.ndarray:
    """The face with its brows pushed `depth` eye distances down through the eyes: crossed
    points, as the landmark model draws them on a bowed head."""
    out = points.copy()
    eyes = float(np.linalg.norm(out[NAMES.index("eye_left_3")] - out[NAMES.index("eye_right_0")]))
    out[np.asarray(GROUPS["brows"]), 1] += depth * eyes
    return out


def test_folded_landmarks_cap_the_swap_at_once_and_it_returns_at_the_fade_pace():
    frontal = pitched(0)
    torn = folded(frontal, 0.6)
    assert folded_share(frontal) == 0.0 and folded_share(torn) > FOLDED_TO
    state = TrackState()
    assert state.fade_for_turn(frontal) == 1.0
    assert state.fade_for_turn(torn) == 0.0  # at once, not over the fade
    shown = [state.fade_for_turn(frontal) for _ in range(TURN_FADE_FRAMES)]
    assert np.allclose(np.diff([0.0, *shown]), 1.0 / TURN_FADE_FRAMES) and shown[-1] == 1.0
    # A slight crossing (the talking heads' points reach 0.047) leaves the swap whole.
    slight = next(f for f in (folded(frontal, d / 100) for d in range(5, 60)) if folded_share(f))
    assert 0.0 < folded_share(slight) < 0.05 and fold_ceiling(slight) == 1.0


def test_the_outline_turning_edge_on_is_no_fold():
    # On a real head turned or tipped far the jaw and cheeks pass behind the face and their
    # triangles flip (a microphone over the chin does the same to the points): not counted.
    points = pitched(0)
    outline = np.concatenate([GROUPS["jaw"], GROUPS["chin"], GROUPS["cheeks"]])
    centre = points[outline].mean(axis=0)
    points[outline] = 2 * centre - points[outline]  # mirrored through their centre
    assert folded_share(points) == 0.0


@pytest.fixture
def source(tmp_path: Path):
    path = tmp_path / "source.png"
    cv2.imwrite(str(path), texture(420, 400, 1))
    points = (_MEAN * 300 + (50, 60)).astype(np.float32)
    return enroll_source(path, lambda image: [points])


def test_swap_turned_swaps_pitched_and_folded_faces_too(source):
    image = texture(360, 480, 2)
    for points in (pitched(45), folded(pitched(0), 0.6)):
        faces = [Face(0, points)]
        assert np.array_equal(run_stage(SwapStage(source), image, faces), image)
        swapped = run_stage(SwapStage(source, SwapOptions(swap_turned=True)), image, faces)
        assert np.any(swapped != image, axis=2).sum() > 5_000
        ungated = run_stage(SwapStage(source, SwapOptions(pose_gate=False)), image, faces)
        assert np.array_equal(ungated, swapped)
