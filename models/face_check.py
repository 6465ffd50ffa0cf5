"""A second look at a tracked face: BlazeFace on the face's own crop, against its landmarks.

Between detections the engine cuts each face's crop from the face's own last landmarks
(`facestream.models.engine`). Landmarks that are off the face stay off it: the model draws a
face-sized shape in whatever crop it is given, the next crop is cut from that shape, and
its confidence on hair, a pillar or a profile stays at the level of a real face in a crowd
(0.5-0.65 on ``facenet/video.mp4``). `FaceCheck` runs the short-range BlazeFace on the crop
the landmarks give (128 px, the detector's own input size) and compares what it finds with
the landmarks:

- **found**: a detection in the crop at all (none on a pillar, rarely one on the back of a
  head); it confirms the face only from `CONFIRM_SCORE` on;
- **agrees**: its two eye keypoints lie within `EYE_AGREEMENT` eye distances of the
  landmarks' eye centres, and its eye distance is within `SCALE_AGREEMENT` of theirs (the
  landmarks of a boy looking down had grown to three times his face; those of a red-haired
  boy sat a whole eye distance up on his forehead);
- **profile**: its nose tip lies outside the middle of the eye line (`PROFILE_NOSE`): on a
  profile the landmark model still draws a frontal shape, with the far eye on the
  background, and the landmarks' own turn measure reads it as frontal;
- **askew**: on a face it sees frontal (`FRONTAL_NOSE`), its nose tip or mouth centre lies
  more than `INNER_AGREEMENT` eye distances from the landmarks' (`inner_disagreement`):
  the landmarks' eyes are on the face, the rest is drawn elsewhere. On the crowd's heads
  bowed far down (28-36 degrees by MediaPipe's mesh) the landmark model draws a frontal
  shape whose nose and mouth sit high on the face, and the swap tore there; a face
  turned far reads as far apart (its landmarks' frontal shape) but is the turn's to fade.

Example:
    >>> import numpy as np
    >>> from facestream.models.landmarks import MEAN_SHAPE
    >>> check = FaceCheck()
    >>> verdict = check(np.zeros((240, 320, 3), np.uint8), (MEAN_SHAPE * 150 + 60)[None])[0]
    >>> verdict.found, verdict.confirmed
    (False, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from facestream.models.crops import (
    crop_from_landmarks,
    cut_crops,
    landmark_anchors,
    pixel_affines,
)
from facestream.models.detector import Detection, FaceDetector
from facestream.models.torchscript import freeze_for_cpu

CHECK_SIZE = 128
"""Side of the crop the detector looks at: the short-range model's own input."""

MIN_SCORE = 0.3
"""Detections under this score are not faces to the check. Real faces of the crowd clip
scored 0.25-0.9 in their own (sometimes drifted) crops, the back of a head 0.2-0.5; the
eye agreement separates most of them."""

CONFIRM_SCORE = 0.5
"""A detection confirms the landmarks only from this score on (one under it still keeps
the face from being dropped). Faces confirmed under it were a red scarf (0.32, facenet
frame 77), a singer turning away in motion blur and a dim, blurred audience face
(0.47-0.48, short_hamilton_clip); real faces confirmed measured 0.57-0.92, but for one
three-quarter face at 0.49 that its turn fades out anyway."""

EYE_AGREEMENT = 0.3
"""Largest mean distance between the detector's eyes and the landmarks' eye centres, in
the landmarks' eye distances. Faces whose landmarks were on them measured 0.03-0.2
(talking heads, the crowd's frontal faces); landmarks on hair, on a turned head or on a
profile 0.4-1.5."""

SCALE_AGREEMENT = 1.5
"""Largest ratio (either way) between the detector's and the landmarks' eye distances."""

PROFILE_NOSE = 0.1
"""The detector's nose tip, projected on its eye line (0 at the right eye, 1 at the left),
lies in [PROFILE_NOSE, 1 - PROFILE_NOSE] on a face that is not a profile. Frontal faces
measured 0.3-0.7, a face turned far with its landmarks on it 0.14-0.25
(``spectre/OzA6jRYjVQs_00004``, where the swap holds), the profiles of the
``short_hamilton_clip`` audience -0.07-0.15 (their landmarks also disagree)."""

INNER_AGREEMENT = 0.3
"""Largest distance between the detector's nose tip and the landmarks' (iBUG 30), and
between its mouth centre and the landmarks' (the outer lips' mean), in the landmarks' eye
distances, on a face the detector sees frontal. Over every frame of the 29 talking-head
clips (nodding up to about 17 degrees), on the 4416 faces seen frontal whose eyes agreed,
the larger of the two read 0.076 (median), 0.19 (99th percentile), 0.24 at most; it passed
0.3 only on faces turned far (nose at 0.67-0.96 of the eye line). On ``facenet/video.mp4``
the red-haired man bowed 28-36 degrees (MediaPipe's mesh) read 0.42 at the check that
first trusted his new track (frame 101, torn swaps at 103-104), and 0.33 at frame 81 on
his earlier track."""

FRONTAL_NOSE = 0.15
"""A face is seen frontal (`inner_disagreement` asked of it) when the detector's nose tip,
projected on its eye line (0 at the right eye, 1 at the left), lies within this of 0.5.
The talking heads' faces measured 0.14-0.96 (median 0.47), the crowd's bowed faces over
`INNER_AGREEMENT` 0.46-0.62."""


@dataclass(frozen=True)
class Verdict:
    """What the detector saw in one face's crop.

    Attributes:
        found: a detection in the crop.
        agrees: the landmarks' eyes lie on the detection's eyes, at its scale.
        profile: the detection is a face seen from the side.
        keypoints: float32 ``(6, 2)`` the detection's keypoints in frame pixels (the one
            nearest the landmarks), or None.
        score: that detection's score (0 without one).
        askew: the detection is frontal and its nose tip or mouth centre lies off the
            landmarks' (`INNER_AGREEMENT`).
    """

    found: bool
    agrees: bool
    profile: bool
    keypoints: np.ndarray | None
    score: float = 0.0
    askew: bool = False

    @property
    def confirmed(self) -> bool:
        """A clear face where the landmarks say, not in profile, nose and mouth too."""
        return (
            self.found
            and self.agrees
            and not self.profile
            and not self.askew
            and self.score >= CONFIRM_SCORE
        )


def eye_disagreement(points: np.ndarray, keypoints: np.ndarray) -> tuple[float, float]:
    """Mean distance between the eye centres of landmarks ``(128, 2)`` and the eye keypoints
    of a detection ``(6, 2)``, in the landmarks' eye distances, and the ratio of the two eye
    distances (detection over landmarks)."""
    eyes = landmark_anchors(points)[:2]
    spread = max(float(np.linalg.norm(eyes[1] - eyes[0])), 1e-6)
    error = float(np.linalg.norm(eyes - keypoints[:2], axis=1).mean()) / spread
    return error, float(np.linalg.norm(keypoints[1] - keypoints[0])) / spread


def agrees(points: np.ndarray, keypoints: np.ndarray) -> bool:
    """Whether landmarks ``(128, 2)`` sit on the face of a detection's keypoints ``(6, 2)``."""
    error, ratio = eye_disagreement(points, keypoints)
    return error <= EYE_AGREEMENT and 1 / SCALE_AGREEMENT <= ratio <= SCALE_AGREEMENT


def nose_along(keypoints: np.ndarray) -> float:
    """A detection's nose tip projected on its eye line: 0 at the right eye, 1 at the left."""
    line = keypoints[1] - keypoints[0]
    return float(np.dot(keypoints[2] - keypoints[0], line)) / max(float(np.dot(line, line)), 1e-6)


def is_profile(keypoints: np.ndarray) -> bool:
    """Whether a detection's nose tip lies off the middle of its eye line (a profile)."""
    return not PROFILE_NOSE <= nose_along(keypoints) <= 1.0 - PROFILE_NOSE


def inner_disagreement(points: np.ndarray, keypoints: np.ndarray) -> float:
    """The larger of the distances between the nose tips and between the mouth centres of
    landmarks ``(128, 2)`` and a detection's keypoints ``(6, 2)``, in the landmarks' eye
    distances."""
    anchors = landmark_anchors(points)
    spread = max(float(np.linalg.norm(anchors[1] - anchors[0])), 1e-6)
    return float(np.linalg.norm(anchors[2:4] - keypoints[2:4], axis=1).max()) / spread


def is_askew(points: np.ndarray, keypoints: np.ndarray, limit: float = INNER_AGREEMENT) -> bool:
    """Whether a detection seen frontal puts the nose tip or the mouth off the landmarks'."""
    frontal = abs(nose_along(keypoints) - 0.5) <= FRONTAL_NOSE
    return frontal and inner_disagreement(points, keypoints) > limit


class FaceCheck:
    """BlazeFace (short range) on each face's landmark crop, compared with the landmarks.

    Args:
        device: torch device for the detector.
        min_score: detections under this score are ignored.
        inner_agreement: a frontal detection whose nose tip or mouth lies farther than
            this from the landmarks' is askew (`INNER_AGREEMENT`; ``inf``: never).

    About 3 ms a face on one CPU core of this machine (best of 60: the network,
    TorchScript-frozen on the CPU, 2.0 ms; decoding and NMS 0.9 ms; the crop 0.24 ms; the
    landmark model itself 2.4 ms); the engine runs it on each face every ``check_every``
    frames (7: 0.42 ms a face a frame, `bench/swap_crowd.py`).
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        min_score: float = MIN_SCORE,
        inner_agreement: float = INNER_AGREEMENT,
    ) -> None:
        self.detector = FaceDetector("short", device, min_score)
        self.inner_agreement = inner_agreement
        if self.detector.device.type == "cpu":
            # About 1.8x faster on the CPU; the outputs are the same to the last bit.
            example = torch.rand(1, 3, CHECK_SIZE, CHECK_SIZE).contiguous(
                memory_format=torch.channels_last
            )
            self.detector.net = freeze_for_cpu(self.detector.net, example)

    def __call__(self, frame: np.ndarray, points: np.ndarray) -> list[Verdict]:
        """Verdicts for the faces with landmarks ``points`` ``(N, 128, 2)`` in ``frame``
        (RGB ``uint8``), in order."""
        if len(points) == 0:
            return []
        crop_to_frame = crop_from_landmarks(points)
        crops = cut_crops(frame, crop_to_frame, CHECK_SIZE)
        found = self.detector.detect_batch(list(crops))
        to_frame = pixel_affines(crop_to_frame, CHECK_SIZE).astype(np.float64)
        return [
            _verdict(p, d, a, self.inner_agreement)
            for p, d, a in zip(points, found, to_frame, strict=True)
        ]


def _verdict(
    points: np.ndarray,
    detections: Sequence[Detection],
    to_frame: np.ndarray,
    inner_agreement: float = INNER_AGREEMENT,
) -> Verdict:
    """The verdict on one face from the detections in its crop (crop pixels)."""
    if not detections:
        return Verdict(False, False, False, None)
    candidates = [
        (d.keypoints.astype(np.float64) @ to_frame[:, :2].T + to_frame[:, 2]).astype(np.float32)
        for d in detections
    ]
    errors = [eye_disagreement(points, k)[0] for k in candidates]
    best = int(np.argmin(errors))
    keypoints = candidates[best]
    return Verdict(
        True,
        agrees(points, keypoints),
        is_profile(keypoints),
        keypoints,
        float(detections[best].score),
        is_askew(points, keypoints, inner_agreement),
    )
