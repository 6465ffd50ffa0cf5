"""The target's glasses: kept on the swapped face, or pasted over? Old against new, one run.

(a) Ground truth by construction: glasses drawn on clips of people without glasses
(`BARE_CLIPS`), following each frame's landmarks (`draw_glasses`: `STYLES`, thin and
thick rims, dark and metallic), are swapped with `keep_glasses=False` (the code before
`filters/glasses.py`) and with the default, the same landmarks, per clip and style:

- recall: share of the drawn rim pixels inside the swapped region (alpha >= 0.5 without
  keeping) whose output is within `SAME_LEVELS` of the target with glasses;
- false keep: share of the other face pixels there (the rims grown by 3 % of the face
  size left out) whose alpha fell under half of the old one;

and on the same clips with no glasses drawn, the share of face pixels kept at all (alpha
under half of the old one), median and worst frame.

(b) The real glasses clips (`GLASSES_CLIPS`): whether the track decided "glasses", and
the rims' edge energy: the luma gradient of the output against the input's along the
kept mask's pixels (1 = the rims as sharp as in the input; the old code's paste removes
them); `--sheet` renders input, old, new and the kept mask at several times per clip.

Landmarks: the engine tracking each clip, Kalman-smoothed as in the live path. Medians
over frames after a track's first `SKIP` frames::

    nice -n 10 .venv/bin/python bench/swap_glasses.py [--frames 90] [--sheet PNG]
"""

from __future__ import annotations

import cv2
import numpy as np

# (name, rim width in eye distances, RGB colour): thin metal and plastic, dark and bright.
STYLES = (
    ("thin dark", 0.025, (35, 30, 30)),
    ("thin metallic", 0.02, (205, 205, 200)),
    ("gold wire", 0.015, (185, 150, 85)),
    ("thick black", 0.06, (20, 18, 18)),
)
# Lens half-axes (eye distances), and the lens centre below the eye centre.
LENS_AXES = (0.42, 0.31)
LENS_DROP = 0.04


def draw_glasses(
    image: np.ndarray, points: np.ndarray, width: float, colour: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """`image` (uint8 RGB) with glasses drawn on the face with landmarks `points`: an
    elliptic lens rim around each eye, a bridge across the nose, arms out to the face
    sides at eye height; `width` in eye distances. Returns the image and the float32
    share of each pixel covered by the frame (1 = rim)."""
    from facestream.models.landmarks import LEFT_EYE, RIGHT_EYE

    right = points[RIGHT_EYE].mean(axis=0)
    left = points[LEFT_EYE].mean(axis=0)
    across = left - right
    distance = float(np.linalg.norm(across))
    u = across / max(distance, 1e-6)
    v = np.array([-u[1], u[0]])  # down the face
    a, b = LENS_AXES[0] * distance, LENS_AXES[1] * distance
    t = np.linspace(0.0, 2.0 * np.pi, 96, endpoint=False)
    lines = []
    for eye in (right, left):
        centre = eye + LENS_DROP * distance * v
        ring = centre + np.outer(a * np.cos(t), u) + np.outer(b * np.sin(t), v)
        lines.append((ring, True))
    inner_r = right + LENS_DROP * distance * v + a * u
    inner_l = left + LENS_DROP * distance * v - a * u
    arch = 0.5 * (inner_r + inner_l) - 0.06 * distance * v
    lines.append((np.stack([inner_r, arch, inner_l]), False))
    # The arms from the lenses' outer sides to the face sides (jaw_0 and jaw_16 beside the
    # eyes), at the lenses' height.
    for eye, side, sign in ((right, points[0], -1.0), (left, points[16], 1.0)):
        start = eye + LENS_DROP * distance * v + sign * a * u
        reach = float(np.dot(side - start, u)) * sign
        lines.append((np.stack([start, start + sign * max(reach, 0.0) * u]), False))
    shift = 4
    canvas = np.zeros(image.shape[:2], np.uint8)
    thickness = max(int(round(width * distance)), 1)
    for line, closed in lines:
        pts = np.round(line * (1 << shift)).astype(np.int32)
        cv2.polylines(canvas, [pts], closed, 255, thickness, cv2.LINE_AA, shift)
    cover = canvas.astype(np.float32) * np.float32(1.0 / 255.0)
    drawn = image.astype(np.float32)
    drawn += (np.asarray(colour, np.float32) - drawn) * cover[..., None]
    return np.clip(drawn + 0.5, 0, 255).astype(np.uint8), cover
