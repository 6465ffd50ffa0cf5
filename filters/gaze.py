"""The swapped eyes look where the target looks.

In the 128-point triangulation the iris centre is the shared corner of six triangles whose
other corners lie on the eyelids, about where the edge of a frontal iris is. Moving the
iris point therefore only stretches one half of the source's iris disc and squeezes the
other: the disc's edges stay pinned to the lids, the dark blob stays where the source had
it, and a swapped face stares ahead while the target glances sideways (issue #8).

`gaze_warp` builds the face's warp with each iris point first put where the source's iris
sits in that eye (`neutral_irises`: the eye opening then maps on the source's opening by
one near-affine map), and then shifts the source coordinates inside each eye opening
(`follow_iris`): a disc of `IRIS_RADIUS` around the target's iris shows the source's iris
rigidly, and between the disc and the opening's edge the shift fades to 0, so the sclera
stretches on one side and is squeezed on the other. Only the opening moves (and a band
just above and below the lid points, where a photo's visible opening often ends), so an
iris near a corner is cut by the lids, as a real one is, and never slides over skin. The
shift runs along the eye's corner-to-corner axis only: sideways gaze is the iris moving
between the corners, and a target looking up or down moves its lids with it (the lids
already follow the target). Where the source's iris sits between its own lids is drawn
as in the photo, though: a source looking up makes every target look up (no reading of
that place from the pixels has told it apart yet, docs/SWAP.md). A closing eye fades the
shift out, so a blink is drawn as before.

Example:
    >>> import numpy as np
    >>> from facestream.models.landmarks import MEAN_SHAPE, TRIANGLES
    >>> src = np.asarray(MEAN_SHAPE) * 200
    >>> dst = src.copy(); dst[88, 0] -= 6  # the target looks to the side
    >>> warp = gaze_warp(src, dst, np.asarray(TRIANGLES), (0, 0, 200, 200))
    >>> x, y = np.round(dst[88]).astype(int)
    >>> bool(abs(warp.map_x[y, x] - src[88, 0]) < 1.0)
    True
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import PerTexture
from facestream.filters.shape import EYE_OPENINGS, eye_affines, irises_moved
from facestream.filters.warp import Box, WarpMap, build_warp_map

# Radius of the disc moved rigidly with the iris, as a fraction of the eye's corner-to-corner
# width. Face Mesh measures irises 0.39-0.48 of the width across on the sources and clips,
# and the identity shape can narrow the drawn eye: at 0.24 the iris's edge stayed behind,
# stretched, and the re-detected iris followed less of a glance (0.57 against 0.66 of it on
# liveportrait/d14).
IRIS_RADIUS = 0.3
# The iris centre stays at least this share of the eye's width inside either corner (the
# talking-head clips' widest glances measure 0.12-0.2 with Face Mesh).
IRIS_REACH = 0.15
# How far above and below the lid points the shift reaches (fraction of the eye's width).
LID_MARGIN = 0.15
# Eye opening area over the squared width under which the iris does not follow the target
# (closed), and over which it does fully (open eyes measure 0.2-0.3 on the talking-head
# clips, blinks under 0.05).
EYE_CLOSED, EYE_OPEN = 0.04, 0.10
# A shift under this many source pixels (a target looking ahead) is left out.
MIN_SHIFT = 0.25
# `locate_irises` reads the eye from a patch rectified along the corner-to-corner axis:
# PATCH_W samples over the width, PATCH_H over 0.5 widths across it. An iris is taken from
# the pixels when the darkest iris-wide stretch of the opening is darker than the white of
# the eye (its 90th luma percentile) by IRIS_DARKNESS levels on average, and darker than
# the opening as a whole by IRIS_CONTRAST times (open eyes on the talking-head clips: 20-100
# levels, 1.13-1.5 times; no iris to see, as a white synthetic eye: 0).
PATCH_W, PATCH_H = 64, 24
IRIS_DARKNESS, IRIS_CONTRAST = 10.0, 1.05
_IRIS_SPAN = np.ones(max(int(0.4 * PATCH_W), 3), np.float32)  # an iris's width (0.4 of the eye)
# The columns of `locate_irises`' readings (one row per `EYE_OPENINGS` entry), and the
# fewest opening pixels a column beside the iris needs to count as the eye's white.
OPENNESS, SCLERA = 0, 1
SIDE_PIXELS = 3
# The readings come from the opening moved READ_SHIFT patch rows (0.125 of the eye's width)
# up or down where its darkest stretch is SHIFT_GAIN times as dark, if its openness is
# SHIFT_FLOOR or more where the landmarks put it (`_moved_readings`; on 13 clips' readings
# the open eyes read closing 3.2 % -> 1.9 % of the time, and no closed eye was lost).
READ_SHIFT, SHIFT_GAIN, SHIFT_FLOOR = 6, 1.6, 0.02
# The landmark model's upper lids stop short of a wide-open eye (on the iris's top or in the
# white, liveportrait/d10) and lie on the lash line of a made-up photo (deepface/img7):
# `locate_irises` and `source_eyes` put them on the white's upper edge. In each patch column
# the white (two rows of LID_WHITE of its luma or more) is looked for from the landmarks'
# lid down LID_DOWN rows and followed up, at most LID_ROOM rows above the lid (0.25 of the
# eye's width), to where the luma falls half way to the darkest row there, if that is
# darker than LID_DARK of the white (lashes, the lid's shadow); a column with neither says
# nothing. The three upper lid points move together by the median over the columns that
# tell, when LID_COLUMNS or more do (moved each by the columns near it, the lid came out
# wavy and bent the source's lash line).
LID_ROOM, LID_DOWN, LID_WHITE, LID_DARK, LID_COLUMNS = 12, 6, 0.8, 0.6, 3
# Only an eye with white beside its iris (the sclera reading; open eyes on the talking-head
# clips 0.1-0.6) is searched: a closed eye's "white" is lid skin below its lash line.
LID_SCLERA = 0.1
# An eye narrower than this many pixels (corner to corner) is not read at all: its iris
# stays at its landmark, its lids where the landmarks put them, and its readings are NaN
# (`Blinks` leaves it open). On the crowd clip facenet/video.mp4 (eyes 9-17 px, blurred,
# overexposed, a face looking down) the readings jumped 4-5 times as much from frame to
# frame as on 45-57 px eyes, one eye read closed on every other frame, and the target's own
# lid was kept inside the source's dark eye make-up: a white disc with no iris. Size is a
# proxy: talking heads scaled down to 11-17 px eyes still read as at full size (iris,
# blinks; docs/SWAP.md), and lose blinks and gaze following here. The talking-head clips'
# eyes measure 30-57 px.
MIN_READ_WIDTH = 20.0


def locate_irises(
    image: np.ndarray, points: np.ndarray, lids: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """`points` with each iris centre moved, along its eye's corner-to-corner axis, to the
    darkest iris-wide stretch of the eye opening in `image` (uint8 RGB, the target's own
    pixels), where one is clear; and what the pixels show of each eye's opening, a row
    (`OPENNESS`, `SCLERA`) per eye.

    The shipped landmark model places the iris points in the middle of the eye whatever the
    gaze (measured: they move 0.02 of the way Face Mesh's irises do), while the iris is the
    darkest thing between the lids. Across the axis the landmarks' place is kept; a closed
    eye, or one with no clearly darker stretch, keeps its landmark.

    The openness (0 with nothing to see) is the opening's area over its width squared times
    the darkest stretch's darkness over the white of the eye: the model's lids close only
    part of the way in a blink (0.15 against 0.23 of the width squared), while the iris and
    sclera's contrast goes. The sclera reading is how much darker that stretch is than the
    brightest column of the opening beside it, over the white of the eye: an open eye has
    white on one side of its iris at least, a closed one a lash line along its whole width
    (`Blinks` turns both into closedness). Both are read a little up or down instead where
    the landmarks' opening has slipped off the eye (`_moved_readings`).

    With `lids`, each upper lid point whose landmark lies in the white of the eye is moved
    up to where the white ends (`_lid_lift`): the model's lids stop short of a wide-open
    eye, and the source's eye was drawn half shut there. The readings and the iris search
    use the landmarks' own opening.

    An eye under `MIN_READ_WIDTH` pixels wide is not read: its points stay and its readings
    are NaN (too few pixels to tell an iris from a lid).
    """
    out = points.copy()
    readings = np.zeros((len(EYE_OPENINGS), 2))
    for k, (eye, iris) in enumerate(EYE_OPENINGS):
        found, readings[k], lift = _read_eye(image, points, eye, iris, lids)
        if found is not None:
            out[iris] = found
        if lift is not None:
            out[eye[1:4]] += lift.astype(points.dtype)
    return out, readings


_SOURCE_EYES = PerTexture()


def source_eyes(texture: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The source's `points` (in `texture`'s pixels) with its irises and upper lids where
    its pixels show them (`locate_irises`), found once per texture level: on a made-up
    photo the landmarks' lids lie on the lash line, and the warp drew the lashes and liner
    inside the target's eye opening (moved sideways with a glance: a dark smear)."""
    return _SOURCE_EYES.get(texture, lambda: locate_irises(texture, points)[0])


def _read_eye(
    image: np.ndarray, points: np.ndarray, eye: np.ndarray, iris: int, lids: bool
) -> tuple[np.ndarray | None, tuple[float, float], np.ndarray | None]:
    """The iris centre moved along the corner-to-corner axis to where the pixels show the
    iris, or None; the eye's openness and sclera reading (see `locate_irises`); and, with
    `lids`, the move of the upper lid's points (2,) in image pixels, or None."""
    a = points[eye[0]].astype(np.float64)
    axis = points[eye[len(eye) // 2]].astype(np.float64) - a
    width = math.hypot(*axis)
    opening = points[eye].astype(np.float32)
    if width < MIN_READ_WIDTH:
        return None, (math.nan, math.nan), None
    area = cv2.contourArea(opening) / width**2
    across = np.array([-axis[1], axis[0]]) / width * (0.5 * width / PATCH_H)
    # Patch (i, j) -> image: a + i / PATCH_W * axis + (j - PATCH_H / 2) * across; warped
    # READ_SHIFT rows taller on either side (`_moved_readings`).
    to_image = np.array(
        [
            [axis[0] / PATCH_W, across[0], a[0] - across[0] * PATCH_H / 2],
            [axis[1] / PATCH_W, across[1], a[1] - across[1] * PATCH_H / 2],
        ]
    )
    # LID_ROOM rows above (the lid search) and READ_SHIFT below (`_moved_readings`).
    above = LID_ROOM if lids else READ_SHIFT
    taller = to_image.copy()
    taller[:, 2] -= across * above
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    size = (PATCH_W, above + PATCH_H + READ_SHIFT)
    full = cv2.cvtColor(cv2.warpAffine(image, taller, size, flags=flags), cv2.COLOR_RGB2GRAY)
    full = full.astype(np.float32)
    tall = full[above - READ_SHIFT :]
    to_patch = cv2.invertAffineTransform(to_image)
    inside = polygon_mask(cv2.transform(opening[None], to_patch)[0], (PATCH_H, PATCH_W)) > 0
    total = int(np.count_nonzero(inside))
    if total < 20:
        return None, (0.0, 0.0), None
    white = _white(tall[READ_SHIFT : READ_SHIFT + PATCH_H], inside, total)
    # Darkness below the white of the eye, per column and summed over an iris's width.
    dark_tall = np.subtract(np.float32(white), tall)
    np.maximum(dark_tall, 0.0, out=dark_tall)
    dark = dark_tall[READ_SHIFT : READ_SHIFT + PATCH_H] * inside
    columns = dark.sum(axis=0)
    counts = inside.sum(axis=0).astype(np.float32)
    count = np.convolve(counts, _IRIS_SPAN, mode="same")
    score, i, darkness, readings = _readings(area, columns, counts, count, white)
    lift = None
    if lids and area >= EYE_OPEN and readings[SCLERA] >= LID_SCLERA:
        ends = to_patch[0, :2] @ points[[eye[1], eye[3]]].T + to_patch[0, 2]
        rows = _lid_lift(full, inside, white, i, (float(ends.min()), float(ends.max())))
        if rows is not None:
            lift = -rows * across
    if readings[OPENNESS] >= SHIFT_FLOOR:
        readings = _moved_readings(readings, darkness, tall, dark_tall, inside, area, counts, count)
    if area < EYE_OPEN or darkness < IRIS_DARKNESS:
        return None, readings, lift
    if darkness < IRIS_CONTRAST * columns.sum() / total:
        return None, readings, lift
    offset = 0.0
    if 0 < i < PATCH_W - 1:  # the parabola through the peak and its neighbours
        left, peak, right = score[i - 1], score[i], score[i + 1]
        curve = left - 2.0 * peak + right
        offset = 0.5 * (left - right) / curve if curve < 0 else 0.0
    found = (i + offset) / PATCH_W  # patch column i samples the axis at i / PATCH_W
    now = float((points[iris] - a) @ axis / (axis @ axis))
    return (points[iris] + (found - now) * axis).astype(points.dtype), readings, lift


def _lid_lift(
    full: np.ndarray, inside: np.ndarray, white: float, iris: int, ends: tuple[float, float]
) -> float | None:
    """How many patch rows the landmarks' upper lid points lie below the eye's real upper
    lid (negative: above it), or None where too few columns tell.

    The points move together, so between a corner and the nearest lid point (patch
    columns `ends`) the lid moves in proportion: each column's move is scaled back to the
    points' before the median (columns under three quarters of the way from a corner say
    nothing), and the result kept within LID_DOWN below and LID_ROOM above.

    `full` is the patch with LID_ROOM rows above the opening's window. In each column the
    white of the eye is looked for at the landmarks' lid or up to LID_DOWN rows below it
    (a lid point on the lash line), and followed up to its first dark row: the lid's edge.
    The iris-wide stretch centred on patch column `iris` says nothing (an iris's pale ring
    or catch-light is no white of the eye)."""
    # The columns that can tell: in the opening, three quarters of the way from a corner
    # to the lid points or more, and outside the iris-wide stretch.
    cols = np.arange(PATCH_W)
    share = np.minimum(cols / max(ends[0], 1.0), (PATCH_W - cols) / max(PATCH_W - ends[1], 1.0))
    near = inside.any(axis=0) & (share >= 0.75)
    near[max(iris - len(_IRIS_SPAN) // 2, 0) : iris + len(_IRIS_SPAN) // 2 + 1] = False
    cols = np.flatnonzero(near)
    if len(cols) < LID_COLUMNS:
        return None
    top = inside[:, cols].argmax(axis=0) + LID_ROOM  # the lid's row in `full`
    # The white: the first of two bright rows in a row from the lid down LID_DOWN rows (a
    # lone bright pixel is a catch-light or a gap in the lashes).
    down = full[top[:, None] + np.arange(LID_DOWN + 1), cols[:, None]] >= LID_WHITE * white
    pairs = down[:, :-1] & down[:, 1:]
    start = top + pairs.argmax(axis=1)
    # The LID_ROOM + LID_DOWN rows above it, less those over LID_ROOM above the lid.
    rows = start[:, None] - np.arange(LID_ROOM + LID_DOWN, 0, -1)
    span = full[np.maximum(rows, 0), cols[:, None]]
    span[rows < top[:, None] - LID_ROOM] = np.inf
    darkest = span.min(axis=1)
    tell = pairs.any(axis=1) & (darkest < LID_DARK * white)
    if np.count_nonzero(tell) < LID_COLUMNS:
        return None
    # The edge where the luma crosses half way from the white to the darkest row above: a
    # blurred lash line's pale fringe is not the eye's white.
    below = span < 0.5 * (full[start, cols] + darkest)[:, None]
    last = start - 1 - below[:, ::-1].argmax(axis=1)  # the lowest row below half way
    lifts = np.sort((top - last - 1)[tell] / np.minimum(share[cols[tell]], 1.0))
    median = 0.5 * (lifts[(len(lifts) - 1) // 2] + lifts[len(lifts) // 2])  # np.median's cost
    return float(min(max(median, -LID_DOWN), LID_ROOM))


def _readings(
    area: float, columns: np.ndarray, counts: np.ndarray, count: np.ndarray, white: float
) -> tuple[np.ndarray, int, float, tuple[float, float]]:
    """From the opening's darkness per column: the darkness summed over an iris's width,
    the darkest such stretch and its mean darkness, and the openness and sclera readings."""
    score = np.convolve(columns, _IRIS_SPAN, mode="same")
    i = int(np.argmax(score))
    darkness = float(score[i] / max(count[i], 1.0))
    # The palest column (of SIDE_PIXELS or more) outside the iris-wide stretch.
    side = counts >= SIDE_PIXELS
    side[max(i - len(_IRIS_SPAN) // 2, 0) : i + len(_IRIS_SPAN) // 2 + 1] = False
    sclera = 0.0
    if side.any():
        palest = float((columns[side] / counts[side]).min())
        sclera = max(darkness - palest, 0.0) / max(white, 1.0)
    return score, i, darkness, (float(area * darkness / max(white, 1.0)), sclera)


def _white(luma: np.ndarray, inside: np.ndarray, total: int) -> float:
    """The white of the eye: the opening's 90th luma percentile."""
    k = int(0.9 * (total - 1))
    return float(np.partition(luma[inside], k)[k])


def _moved_readings(
    readings: tuple[float, float],
    darkness: float,
    tall: np.ndarray,
    dark_tall: np.ndarray,
    inside: np.ndarray,
    area: float,
    counts: np.ndarray,
    count: np.ndarray,
) -> tuple[float, float]:
    """The readings of the opening moved READ_SHIFT rows up or down, where its darkest
    iris-wide stretch is over SHIFT_GAIN times as dark (below the same white) and it reads
    more open; else `readings`.

    The landmarks' opening can lie off the eye (d11's and d12's wide-open eyes), and read
    there an open eye looked closing. The iris search stays on the landmarks."""
    total = int(np.count_nonzero(inside))
    for start in (0, 2 * READ_SHIFT):
        columns = (dark_tall[start : start + PATCH_H] * inside).sum(axis=0)
        score = np.convolve(columns, _IRIS_SPAN, mode="same")
        j = int(np.argmax(score))
        if score[j] / max(count[j], 1.0) <= SHIFT_GAIN * darkness:
            continue
        window = tall[start : start + PATCH_H]
        white = _white(window, inside, total)
        dark = np.maximum(white - window, 0.0) * inside
        moved = _readings(area, dark.sum(axis=0), counts, count, white)[3]
        if moved[OPENNESS] > readings[OPENNESS]:
            readings = moved
    return readings


class Blinks:
    """Each eye's closedness (0 open .. 1 closed) on one face track, from `locate_irises`'
    readings against the same eye open a few seconds before; three cues, the largest wins.

    An open eye's readings differ from face to face (3 to 1 across the talking-head clips:
    pale or dark irises, lashes, lighting), so no fixed threshold tells a blink. Against the
    eye's own open level (one per reading), which follows a rise at once in part (`RISE`)
    and a fall slowly (`FALL` a frame, about 4 s at 25 fps, so a blink barely lowers it):

    - the openness falls in a blink where the lash line is paler than the iris (to 0.35 of
      its level on liveportrait/d14), but heavy lashes, a crease or dark skin keep it up;
    - the sclera reading falls where no white is left beside the iris, lashes or not; it
      varies more while open (a glance to a corner, a landmark off the eye), so it counts
      only at a lower share of its level;
    - a joint fall of both (logarithms) under their running mean, in running standard
      deviations, summed: an eye that barely changes while open shows a shallow blink as a
      large fall, one that varies a lot needs a larger one. Mean and variance learn (`RATE`
      a frame) from frames that fall by under `UNUSUAL` only, so a blink does not teach them.
      One eye falling alone (a wink, or a hard glance narrowing one eye) needs up to `LONE`
      deviations more.

    Without a track (a fresh `Blinks`) only an eye with nothing to see (readings well under
    `OPEN_FLOOR`) reads closed. An eye with no readings (NaN: too small to read) is open,
    and its history stays as it was. The thresholds were chosen on 13 LivePortrait clips against
    Face Mesh's openness (docs/SWAP.md, *Blinks*).
    """

    RISE, FALL = 0.3, 0.01
    # Readings (openness, sclera) over their open level: closed at or under CLOSED, open at
    # or over OPEN, linear between.
    CLOSED = np.array([0.3, 0.25])
    OPEN = np.array([0.4, 0.35])
    # The open levels never drop under these (open eyes on the clips measure 0.04-0.15 and
    # 0.1-0.6; a synthetic lid-only eye 0).
    OPEN_FLOOR = np.array([0.03, 0.05])
    # The joint fall: 0 (open) at FALL_OPEN, 1 (closed) at FALL_CLOSED. Readings under
    # MIN_READING count as MIN_READING; SPREAD is added to the running standard deviation
    # (of the logarithm), so a steady eye's noise does not read as a blink.
    FALL_OPEN, FALL_CLOSED = 11.0, 13.0
    LONE = 6.0
    UNUSUAL = 5.0
    RATE = 0.05
    SPREAD = 0.07
    MIN_READING = 0.02

    def __init__(self) -> None:
        self.level: np.ndarray | None = None
        self.mean: np.ndarray | None = None
        self.var: np.ndarray | None = None

    def update(self, readings: np.ndarray) -> np.ndarray:
        """Closedness of each eye this frame; `readings` from `locate_irises`."""
        known = np.isfinite(readings).all(axis=1)
        logs = np.log(np.maximum(readings, self.MIN_READING))
        if self.level is None or self.mean is None or self.var is None:
            self.level = np.full_like(readings, np.nan)
            self.mean = np.full_like(logs, np.nan)
            self.var = np.full_like(logs, np.nan)
        # An eye read for the first time starts its history (a track can begin too small).
        fresh = known & np.isnan(self.level).any(axis=1)
        self.level[fresh] = readings[fresh]
        self.mean[fresh] = logs[fresh]
        self.var[fresh] = self.SPREAD**2
        rate = np.where(readings > self.level, self.RISE, self.FALL)
        level = self.level + rate * (readings - self.level)
        self.level[known] = level[known]
        fall = ((self.mean - logs) / np.sqrt(self.var + self.SPREAD**2)).sum(axis=1)
        fall[~known] = 0.0  # an eye not read neither blinks nor takes the other's wink back
        learn = np.where(known & (fall < self.UNUSUAL), self.RATE, 0.0)[:, None]
        # NaN (an eye never read) counts 0; `np.where` costs a third of `np.nan_to_num`.
        step = logs - self.mean
        self.mean += learn * np.where(np.isnan(step), 0.0, step)
        step = (logs - self.mean) ** 2 - self.var
        self.var += learn * np.where(np.isnan(step), 0.0, step)
        # A fall in one eye alone counts only past up to LONE deviations more (the other
        # eye's fall, as a share of FALL_OPEN, takes it back): a hard glance narrows one
        # eye's readings far more than the other's (liveportrait/d0: 11-14 against 3-4, the
        # target's own eye faded in over the source's), a wink falls by more (d3: 18-26).
        # (np.minimum/np.maximum rather than np.clip on these tiny arrays: its wrapper
        # costs twice the two ufuncs, on every face and frame.)
        lone = self.LONE * np.minimum(np.maximum(1.0 - fall[::-1] / self.FALL_OPEN, 0.0), 1.0)
        unlike = (fall - lone - self.FALL_OPEN) / (self.FALL_CLOSED - self.FALL_OPEN)
        unlike = np.minimum(np.maximum(unlike, 0.0), 1.0)
        closed = np.maximum(closedness(readings, self.level).max(axis=1), unlike)
        return np.where(known, closed, 0.0)


def closedness(readings: np.ndarray, level: np.ndarray) -> np.ndarray:
    """0 (open) .. 1 (closed) for each of `readings` against its open `level` (both shaped
    like `locate_irises`' readings)."""
    ratio = readings / np.maximum(level, Blinks.OPEN_FLOOR)
    return np.minimum(np.maximum((Blinks.OPEN - ratio) / (Blinks.OPEN - Blinks.CLOSED), 0.0), 1.0)


def neutral_irises(source_points: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`points` with each iris centre moved to where the source's iris falls in that eye
    opening (the opening mapped by its best affine): with these the warp draws the source's
    eye as the source looks."""
    return irises_moved(points, eye_affines(source_points, points), source_points)


def follow_iris(
    warp: WarpMap,
    source_points: np.ndarray,
    points: np.ndarray,
    neutral: np.ndarray,
    eye: np.ndarray,
    iris: int,
) -> None:
    """Shift `warp` (built on `neutral`) in place inside one eye opening so the source's
    iris disc lands on the target's iris centre `points[iris]`, along the eye's axis."""
    opening = points[eye].astype(np.float64)
    corner = len(eye) // 2  # the other corner (the openings start at one)
    ax, ay = (opening[corner] - opening[0]).tolist()
    width2 = ax * ax + ay * ay
    if width2 < 4.0:
        return
    width = math.sqrt(width2)

    def along(point: np.ndarray) -> float:
        """A point's place between the corners (0 at the first, 1 at the other)."""
        return float((point[0] - opening[0, 0]) * ax + (point[1] - opening[0, 1]) * ay) / width2

    # The iris moves along the corner-to-corner axis by a share of the eye's width, and by
    # the same share of the source's eye. (The opening's affine fit would carry the move
    # into the source too, but a nearly closed eye makes its vertical scale huge, and a
    # slight tilt of the axis then pulled the source's open eye into a closed one.) It goes
    # no further out than IRIS_REACH: a smoother overshooting a quick glance put it past a
    # corner, where the lids hid it whole.
    share = min(max(along(points[iris]), IRIS_REACH), 1.0 - IRIS_REACH) - along(neutral[iris])
    # A closing eye hides its iris: the shift fades out, and a blink is the source's eye
    # closed as before (shifted, the squeezed opening showed more of the source's iris).
    openness = cv2.contourArea(opening.astype(np.float32)) / width2
    share *= min(max((openness - EYE_CLOSED) / (EYE_OPEN - EYE_CLOSED), 0.0), 1.0)
    sx, sy = (share * (source_points[eye[corner]] - source_points[eye[0]])).tolist()
    if abs(sx) + abs(sy) < MIN_SHIFT:
        return
    # The region reaches LID_MARGIN past the lid points: on the photo the visible opening
    # often ends a pixel or two past them, and an iris edge left there stayed behind as a
    # second, ghost iris. Vertically only: past the corners lies skin.
    margin = max(round(LID_MARGIN * width), 1)
    bx0, by0, bx1, by1 = warp.box
    x0 = max(math.floor(opening[:, 0].min()), bx0)
    y0 = max(math.floor(opening[:, 1].min()) - margin, by0)
    x1 = min(math.ceil(opening[:, 0].max()) + 1, bx1)
    y1 = min(math.ceil(opening[:, 1].max()) + 1 + margin, by1)
    if x1 <= x0 or y1 <= y0:
        return
    # Padded, so the distance transforms see the region's edge on all sides.
    opening_mask = cv2.copyMakeBorder(
        polygon_mask(opening, (y1 - y0, x1 - x0), (x0, y0)),
        margin,
        margin,
        margin,
        margin,
        cv2.BORDER_CONSTANT,
    )
    mask = cv2.dilate(opening_mask, np.ones((2 * margin + 1, 1), np.uint8))
    inner = (slice(margin, -margin), slice(margin, -margin))
    edge = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_3)[inner]
    outside = cv2.distanceTransform(255 - opening_mask, cv2.DIST_L2, cv2.DIST_MASK_3)[inner]
    cx, cy = (points[iris] - (x0, y0)).tolist()
    xs = np.arange(x1 - x0, dtype=np.float32)[None, :] - np.float32(cx)
    ys = np.arange(y1 - y0, dtype=np.float32)[:, None] - np.float32(cy)
    # 1 on the disc, falling to 0 at the region's edge (0 outside it); past the lids it
    # fades out over the margin's outer half, so the lashes bend rather than tear (not at
    # the corners: a fade there drew a rim of squeezed sclera beside an iris in the corner).
    # In place, on float32: the arrays are small and the calls' overhead is the cost.
    spread = np.hypot(xs, ys)
    spread -= np.float32(IRIS_RADIUS * width)
    np.maximum(spread, 0.0, out=spread)
    spread += edge
    np.maximum(spread, 1e-6, out=spread)
    weight = np.divide(edge, spread, out=edge)
    outside *= np.float32(-2.0 / margin)
    outside += 2.0
    np.maximum(outside, 0.0, out=outside)  # a clip: np.clip's wrapper costs more here
    weight *= np.minimum(outside, 1.0, out=outside)
    rows, cols = slice(y0 - by0, y1 - by0), slice(x0 - bx0, x1 - bx0)
    warp.map_x[rows, cols] -= np.float32(sx) * weight
    warp.map_y[rows, cols] -= np.float32(sy) * weight


def gaze_warp(
    source_points: np.ndarray, points: np.ndarray, triangles: np.ndarray, box: Box
) -> WarpMap:
    """`build_warp_map(source_points, points, triangles, box)` with the source's irises
    following the target's (`points`) iris centres rigidly inside the eye openings."""
    neutral = neutral_irises(source_points, points)
    warp = build_warp_map(source_points, neutral, triangles, box)
    for eye, iris in EYE_OPENINGS:
        follow_iris(warp, source_points, points, neutral, eye, iris)
    return warp


# A closing eye's upper lid points move down this share of the way to the lower lid (not
# all the way: the iris centre, a corner of the opening's triangles, must stay between the
# lids), in step with the closedness up to KEEP_FROM; the target's own lids then fade in
# over the source's closed ones, from KEEP_FROM to 1.
LID_TRAVEL, KEEP_FROM = 0.9, 0.6


def closing_lids(points: np.ndarray, closed: np.ndarray) -> np.ndarray:
    """`points` with each eye's upper lid moved toward its lower lid by `closed` (per
    `EYE_OPENINGS` eye, 0..1) / `KEEP_FROM` (at most 1) x `LID_TRAVEL`: the warp itself
    narrows the source's opening, so a closing eye draws the source's own lid over its iris
    rather than mixing its open eye with the target's lids (a see-through iris). `points`
    itself when nothing closes."""
    if not np.any(closed > 0.0):
        return points
    out = points.copy()
    for (eye, _), share in zip(EYE_OPENINGS, np.minimum(closed / KEEP_FROM, 1.0), strict=True):
        # The openings run corner, upper lid (3), corner, lower lid (3, back the other way).
        upper, lower = eye[1:4], eye[5:8][::-1]
        out[upper] += np.float32(LID_TRAVEL * share) * (points[lower] - points[upper])
    return out


def kept_lids(closed: np.ndarray) -> np.ndarray:
    """How much of each closing eye shows the target's own lids: none until the source's
    drawn opening is narrow (`KEEP_FROM`), all when closed."""
    return np.minimum(np.maximum((closed - KEEP_FROM) / (1.0 - KEEP_FROM), 0.0), 1.0)
