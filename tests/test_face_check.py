"""The engine's second look at its faces (models/face_check.py) and what the swap does with it."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from skimage.data import astronaut
from torch import nn

from facestream.filters.swap import TURN_FADE_FRAMES, TrackState
from facestream.models import crops
from facestream.models.detector import Detection, FaceDetector
from facestream.models.engine import DROP_AFTER_MISSES, LandmarkEngine
from facestream.models.face_check import (
    CHECK_SIZE,
    CONFIRM_SCORE,
    EYE_AGREEMENT,
    INNER_AGREEMENT,
    FaceCheck,
    Verdict,
    agrees,
    eye_disagreement,
    inner_disagreement,
    is_askew,
    is_profile,
)
from facestream.models.heatmaps import render_heatmaps
from facestream.models.hrnet import CONFIGS
from facestream.models.landmarks import MEAN_SHAPE


def _wall() -> np.ndarray:
    """The astronaut's face on a wide blank wall: room for a track to drift onto nothing."""
    wall = np.full((400, 1000, 3), 128, np.uint8)
    wall[50:350, 50:350] = astronaut()[:300, 100:400]
    return wall


WALL = _wall()


@pytest.fixture(scope="module")
def detection():
    """BlazeFace's detection of the astronaut on the wall."""
    found = FaceDetector("full").detect(WALL)
    assert len(found) == 1
    return found[0]


class DriftNet(nn.Module):
    """Heatmaps of the template face, wherever the crop is (a confident model), moved
    `drift` crop widths to the right from call `after` on: landmarks that leave the face a
    little more on every frame while their confidence stays high."""

    def __init__(self, after: int, drift: float = 0.2) -> None:
        super().__init__()
        self.config = CONFIGS["hrnet128_lite"]
        self.after, self.drift, self.calls = after, drift, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        unit = 0.5 + (MEAN_SHAPE - 0.5) * crops.FACE_FRACTION
        if self.calls > self.after:
            unit = unit + np.array([self.drift, 0.0], np.float32)
        size = (self.config.heatmap_size, self.config.heatmap_size)
        return render_heatmaps(torch.from_numpy(unit).expand(x.shape[0], -1, -1), size, 1.5)


def _engine(net: nn.Module, detection, verify) -> LandmarkEngine:
    return LandmarkEngine(
        net, device="cpu", detector=lambda frame: [detection], detect_every=1000, verify=verify
    )


def test_a_track_drifting_onto_a_blank_wall_loses_trust_and_is_dropped(detection):
    engine = _engine(DriftNet(after=6), detection, verify=True)
    trust, alive = [], []
    for _ in range(6 + 4 * engine.check_every):
        faces = engine.track(WALL)
        trust.append(faces[0].trust if faces else None)
        alive.append(bool(faces))
    assert trust[:6] == [1.0] * 6  # on the face: confirmed
    gone = alive.index(False)
    # Dropped at its DROP_AFTER_MISSES-th check off the face, untrusted from the first.
    assert gone <= 6 + (DROP_AFTER_MISSES + 1) * engine.check_every
    assert 0.0 in trust[6:gone]
    # The tracker without the second look keeps the confident drifting track.
    old = _engine(DriftNet(after=6), detection, verify=False)
    assert all(len(old.track(WALL)) == 1 for _ in range(len(trust)))


def _profile_check(profile_from: int):
    """A check that sees the face where the landmarks are, in profile from a call on."""
    calls = []

    def check(frame: np.ndarray, points: np.ndarray) -> list[Verdict]:
        calls.append(1)
        return [Verdict(True, True, len(calls) > profile_from, None, 0.9) for _ in points]

    return check


@dataclass
class _Detection:
    box: np.ndarray
    keypoints: np.ndarray
    score: float


def test_a_profile_is_kept_but_not_trusted(detection):
    new_profile = _engine(DriftNet(after=10**6), detection, verify=_profile_check(0))
    assert [f.trust for f in new_profile.track(WALL)] == [0.0]  # new: not trusted at once
    turning = _engine(DriftNet(after=10**6), detection, verify=_profile_check(1))
    every = turning.check_every
    trust = [turning.track(WALL)[0].trust for _ in range(every + 4)]
    # Trusted until its second check in profile in a row (one is forgiven, and checked
    # again on the next frame); never dropped.
    assert trust == [1.0] * (every + 1) + [0.0] * 3


def test_faces_found_together_are_checked_on_different_frames(detection):
    other = _Detection(detection.box + [500, 0, 500, 0], detection.keypoints + [500, 0], 0.9)
    checked = []

    def check(frame: np.ndarray, points: np.ndarray) -> list[Verdict]:
        checked.append(len(points))
        return [Verdict(True, True, False, None, 0.9) for _ in points]

    engine = LandmarkEngine(
        DriftNet(after=10**6),
        device="cpu",
        detector=lambda frame: [detection, other],
        detect_every=1000,
        verify=check,
    )
    for _ in range(3 * engine.check_every):
        assert [f.trust for f in engine.track(WALL)] == [1.0, 1.0]
    assert checked[0] == 2 and set(checked[1:]) == {1}  # together once, then apart


def test_the_swap_fades_an_untrusted_face_out_and_never_draws_a_new_one():
    frontal = (MEAN_SHAPE * 200 + 100).astype(np.float32)
    assert TrackState().fade_for_turn(frontal, trusted=False) == 0.0
    state = TrackState()
    assert state.fade_for_turn(frontal) == 1.0
    shown = [state.fade_for_turn(frontal, trusted=False) for _ in range(TURN_FADE_FRAMES)]
    assert shown[-1] == 0.0 and all(np.diff([1.0, *shown]) < 0)  # a fade, no pop
    assert TrackState().fade_for_turn(frontal, trusted=False, swap_turned=True) == 0.0


def test_a_faint_detection_keeps_a_face_but_does_not_confirm_it():
    clear = Verdict(True, True, False, None, CONFIRM_SCORE)
    faint = Verdict(True, True, False, None, CONFIRM_SCORE - 0.01)
    assert clear.confirmed and not faint.confirmed


def test_profile_keypoints():
    frontal = crops.DETECTION_TEMPLATE.copy()
    assert not is_profile(frontal)
    profile = frontal.copy()
    profile[2] = profile[0] + [0.02, 0.2]  # the nose tip beside the near eye
    assert is_profile(profile)


def test_check_agrees_with_good_landmarks_and_not_with_shifted_ones(detection):
    engine = LandmarkEngine("hrnet128_lite", device="cpu")
    points = engine.predict(WALL, [detection])[0].points
    check = FaceCheck()
    spread = float(np.linalg.norm(points[42:48].mean(0) - points[36:42].mean(0)))
    shifted = points - np.float32([0, spread])  # an eye distance up: on the forehead
    blank = points + np.float32([600, 0])  # on the bare wall
    good, up, none = check(WALL, np.stack([points, shifted, blank]))
    assert good.confirmed and eye_disagreement(points, good.keypoints)[0] < EYE_AGREEMENT
    assert up.found and not up.agrees and not agrees(shifted, up.keypoints)
    assert not none.found and not none.confirmed


def test_a_clean_frontal_face_stays_trusted_with_one_id():
    engine = LandmarkEngine("hrnet128_lite", device="cpu")
    assert engine.verify  # on by default with the shipped weights
    tracks = [[(f.track_id, f.trust) for f in engine.track(WALL)] for _ in range(12)]
    assert tracks == [[(0, 1.0)]] * 12


def _keypoints(points: np.ndarray, drop: float = 0.0, along: float = 0.5) -> np.ndarray:
    """A detection's keypoints ``(6, 2)`` for landmarks ``(128, 2)``: eyes on theirs, the
    nose tip and mouth `drop` eye distances further down the face than theirs (a head bowed
    further than its landmarks show), the nose at `along` of the eye line."""
    eyes_r, eyes_l, nose, mouth = crops.landmark_anchors(points)
    line = eyes_l - eyes_r
    down = np.array([-line[1], line[0]])  # the eye line turned a quarter: down the face
    nose = nose + drop * down + (along - 0.5) * line
    mouth = mouth + drop * down
    ears = [eyes_r - 0.4 * line, eyes_l + 0.4 * line]
    return np.stack([eyes_r, eyes_l, nose, mouth, *ears]).astype(np.float32)


FRONTAL = (MEAN_SHAPE * 200 + 100).astype(np.float32)


def test_keypoints_that_see_the_nose_and_mouth_far_below_the_landmarks_are_askew():
    assert inner_disagreement(FRONTAL, _keypoints(FRONTAL)) < 0.01
    assert not is_askew(FRONTAL, _keypoints(FRONTAL))
    # A nod the landmarks follow less than the detector: both within the agreement.
    assert not is_askew(FRONTAL, _keypoints(FRONTAL, drop=0.15))
    bowed = _keypoints(FRONTAL, drop=INNER_AGREEMENT + 0.1)
    assert agrees(FRONTAL, bowed) and not is_profile(bowed)  # the eyes are on the face
    assert is_askew(FRONTAL, bowed)
    # A face turned far: its landmarks' frontal shape is off the detector's nose and
    # mouth too, and the turn is the swap's to fade, not this check's.
    assert not is_askew(FRONTAL, _keypoints(FRONTAL, drop=0.4, along=0.8))
    askew = Verdict(True, True, False, bowed, 0.9, askew=True)
    assert not askew.confirmed and Verdict(True, True, False, bowed, 0.9).confirmed


class _KeypointDetector:
    """A stand-in for the check's BlazeFace: one detection per crop, with `_keypoints` of
    the landmarks the check was given (`drop` set by the test), in the crop's pixels."""

    def __init__(self) -> None:
        self.points = np.zeros((0, 128, 2), np.float32)
        self.drop = 0.0

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Detection]]:
        to_frame = crops.pixel_affines(crops.crop_from_landmarks(self.points), CHECK_SIZE)
        found = []
        for points, affine in zip(self.points, to_frame, strict=True):
            inverse = np.linalg.inv(np.vstack([affine, [0, 0, 1]]).astype(np.float64))[:2]
            frame_keypoints = _keypoints(points, self.drop)
            keypoints = frame_keypoints @ inverse[:, :2].T + inverse[:, 2]
            box = np.array([0, 0, CHECK_SIZE, CHECK_SIZE], np.float32)
            found.append([Detection(box, keypoints.astype(np.float32), 0.9)])
        return found


def test_a_face_the_detector_sees_bowed_below_its_landmarks_is_not_trusted_until_it_agrees(
    detection,
):
    stub = _KeypointDetector()
    face_check = FaceCheck()
    face_check.detector = stub  # type: ignore[assignment]

    def check(frame: np.ndarray, points: np.ndarray) -> list[Verdict]:
        stub.points = points
        return face_check(frame, points)

    # Frontal and nodding (the detector sees nose and mouth within the agreement): trusted.
    for drop in (0.0, 0.15):
        stub.drop = drop
        engine = _engine(DriftNet(after=10**6), detection, verify=check)
        assert [engine.track(WALL)[0].trust for _ in range(10)] == [1.0] * 10
    # A new face whose nose and mouth the detector sees far below the landmarks': never
    # trusted (a bowed head), kept (not dropped); trusted again at the next check (every
    # `check_every` frames) that agrees.
    stub.drop = INNER_AGREEMENT + 0.15
    engine = _engine(DriftNet(after=10**6), detection, verify=check)
    every = engine.check_every
    assert [engine.track(WALL)[0].trust for _ in range(3 * every)] == [0.0] * 3 * every
    stub.drop = 0.0
    assert [engine.track(WALL)[0].trust for _ in range(every)] == [1.0] * every
    # A trusted face that bows: distrusted at the second check in a row (the next frame).
    stub.drop = INNER_AGREEMENT + 0.15
    trust = [engine.track(WALL)[0].trust for _ in range(every)]
    assert trust == [1.0] + [0.0] * (every - 1)
    # The check without the nose and mouth agreement (as it was) trusts the bowed face.
    face_check.inner_agreement = float("inf")
    assert _engine(DriftNet(after=10**6), detection, verify=check).track(WALL)[0].trust == 1.0
