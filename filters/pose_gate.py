"""Whether a face's landmarks are fit to draw a frontal source on: pitch and folds.

The landmark model (HRNet-128 lite) learnt mostly frontal faces. On a head bowed far down
(a crowd walking towards the camera looking at the ground or a phone) its points cross
each other and slide off the features, and the source warped onto them tears: eyes on the
forehead, a red mouth sideways on the cheek. The swap (`filters.swap.TrackState.
fade_for_turn`, beside the turn of `frontality`) reads two cues from the 128 points:

- **pitch** (`nose_drop`, `PitchGate`): where the nose tip lies between the eye line and
  the upper lip. The nose tip stands out of the face, so it drops towards the mouth as the
  head bows, and rises as the head tips back. Past a limit the swap fades out like a
  turned face (hysteresis, the same fade). The model's points follow a bow only part of
  the way (a face bowed 35 degrees by MediaPipe's mesh reads like a talking head's
  17-degree nod), so the limits lie past everything the talking heads reach.
- **folds** (`folded_share`, `fold_ceiling`): the share of the inner face's triangle area
  (the triangles between brows, eyes, nose, mouth and forehead) flipped against
  `MEAN_SHAPE`. The inner face looks at the camera whenever the face can be seen, so its
  triangles keep their orientation on a real face (the outline's turn edge-on and flip on
  a turned head, or behind a microphone); flipped ones are the model failing, and the
  warp draws mirrored, torn texture there. The folds build up over two to four frames, so
  the swap's share is capped at once as they grow (`fold_ceiling`), and comes back at
  the fade's pace when they clear.

Example:
    >>> from facestream.models.landmarks import MEAN_SHAPE
    >>> round(nose_drop(MEAN_SHAPE), 2), folded_share(MEAN_SHAPE), fold_ceiling(MEAN_SHAPE)
    (0.56, 0.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facestream.models.landmarks import (
    GROUPS,
    LEFT_EYE,
    MEAN_SHAPE,
    NAMES,
    RIGHT_EYE,
    TRIANGLES,
)

_NOSE_TIP = NAMES.index("nose_bridge_3")  # iBUG 30
_UPPER_LIP = NAMES.index("lip_outer_3")  # iBUG 51, the top of the upper lip's middle
_OUTLINE = np.concatenate([GROUPS["jaw"], GROUPS["chin"], GROUPS["cheeks"]])
_TRIANGLES = np.asarray(TRIANGLES, np.int64)
_INNER = _TRIANGLES[~np.isin(_TRIANGLES, _OUTLINE).any(axis=1)]

# `nose_drop` over PITCHED_DOWN_OFF (a head bowed far) or under PITCHED_UP_OFF (tipped far
# back) fades the swap out; back inside PITCHED_DOWN_ON / PITCHED_UP_ON it fades in again.
# MEAN_SHAPE reads 0.56. Over the swapped frames of the 29 talking-head clips (nods and
# tilts of -16..+27 degrees by MediaPipe's mesh) the engine's points read 0.37-0.70
# (docs/SWAP.md, "Faces bowed far down").
PITCHED_DOWN_OFF = 0.76
PITCHED_DOWN_ON = 0.72
PITCHED_UP_OFF = 0.30
PITCHED_UP_ON = 0.34
# `folded_share` up to FOLDED_FROM leaves the swap as it is; from there to FOLDED_TO its
# share falls to 0. The talking heads' swapped faces fold at most 0.047 (a motion-blurred
# frame of liveportrait/d12; WDA_KatieHill_000 looking up, 0.042: a smeared brow); the
# crowd's torn swaps 0.08-0.39 (docs/SWAP.md, "Faces bowed far down").
FOLDED_FROM = 0.05
FOLDED_TO = 0.10


def nose_drop(points: np.ndarray) -> float:
    """Where the nose tip of landmarks ``(128, 2)`` lies between the eye line and the upper
    lip, measured across the eye line (0 at the eyes, 1 at the lip; 0.56 on `MEAN_SHAPE`).

    Larger as the head bows (pitch down), smaller as it tips back. A ratio of two lengths
    along one direction, so neither the face's size nor its roll changes it, and the upper
    lip, not the chin: a microphone or a collar hides the chin, and an open jaw moves it.
    """
    right, left = points[RIGHT_EYE].mean(axis=0), points[LEFT_EYE].mean(axis=0)
    across = left - right
    down = np.array([-across[1], across[0]])  # the eye line turned a quarter: down the face
    eyes = 0.5 * (left + right)
    lip = float(np.dot(points[_UPPER_LIP] - eyes, down))
    return float(np.dot(points[_NOSE_TIP] - eyes, down)) / max(lip, 1e-6)


def _signed_areas(points: np.ndarray) -> np.ndarray:
    """Twice the signed area of each inner-face triangle of landmarks ``(128, 2)``."""
    a, b, c = (points[_INNER[:, k]] for k in range(3))
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


_MEAN_ORIENTATION = np.sign(_signed_areas(np.asarray(MEAN_SHAPE, np.float64)))


def folded_share(points: np.ndarray) -> float:
    """The share of the inner face's triangle area, in landmarks ``(128, 2)``, that lies in
    triangles flipped against `MEAN_SHAPE` (0 for a real face it can see)."""
    areas = _signed_areas(np.asarray(points, np.float64))
    total = float(np.abs(areas).sum())
    flipped = float(np.abs(areas[np.sign(areas) != _MEAN_ORIENTATION]).sum())
    return flipped / max(total, 1e-9)


def fold_ceiling(points: np.ndarray) -> float:
    """The largest share of the swap landmarks ``(128, 2)`` may show: 1 up to
    `FOLDED_FROM` of their area folded, falling linearly to 0 at `FOLDED_TO`."""
    share = (folded_share(points) - FOLDED_FROM) / (FOLDED_TO - FOLDED_FROM)
    return float(np.clip(1.0 - share, 0.0, 1.0))


@dataclass
class PitchGate:
    """One face track's pitch verdict, with hysteresis.

    Attributes:
        level: the last verdict: the face's `nose_drop` is inside the limits.
    """

    level: bool = True

    def update(self, points: np.ndarray, first: bool = False) -> bool:
        """Whether the face with landmarks ``(128, 2)`` is pitched little enough to draw. On
        a track's `first` frame the verdict starts where the face is (between the limits:
        halfway)."""
        drop = nose_drop(points)
        if first:
            down = 0.5 * (PITCHED_DOWN_OFF + PITCHED_DOWN_ON)
            up = 0.5 * (PITCHED_UP_OFF + PITCHED_UP_ON)
            self.level = up <= drop <= down
        elif drop > PITCHED_DOWN_OFF or drop < PITCHED_UP_OFF:
            self.level = False
        elif PITCHED_UP_ON < drop < PITCHED_DOWN_ON:
            self.level = True
        return self.level
