"""The target's glasses stay on the swapped face.

Glasses sit in front of the face like a hand or a microphone, but `occlusion.py` learns
them as part of the face (they are there from the first frame and never move on it), so
the swap pasted the source over the rims and bridge while the arms still showed at the
temples. Each face track keeps a `GlassesModel`:

- the evidence: the target's luma and chroma in a small canonical band over the eyes
  (the frame mapped by the similarity that takes `MEAN_SHAPE`'s eye corners and nose
  bridge onto the face's: glasses are rigid with the skull, not with the expression),
  where thin structures darker, brighter or of another colour than their surroundings
  (morphological black-hat and top-hat) are the candidate rims; accumulated over the
  track's frames (each of its first ones, then every `EVIDENCE_EVERY` frames), so what
  stays is what is rigid with the head;
- the rims: around each eye, per direction from its centre, the radius (past the eye's
  own opening and lashes) where the accumulated evidence is strongest, smoothed over the
  directions into one closed curve; the bridge across the nose between them and the arms
  out to the temples, per column the row where it is strongest;
- the decision, per track with hysteresis: the lower rims' and the bridge's strength over
  the band's usual level (skin texture) say whether the target wears glasses (a bare
  face's brows, lids and lashes make strong upper "rims", but neither a lower rim well
  below the eye nor a bar across the nose), or, where the bridge is lost in the blur
  (thick frames on a small face), both lower rims closed: strong in nearly every
  direction below the eye and clear of the lids; taken after a few frames, or on a track's
  first frame where both cues agree (the glasses are then kept from that frame, whole,
  not faded in: a cut or a new face does not show them popping in); a face without them
  is left exactly as before;
- the mask: the two rims fitted as one mirrored pair of closed smooth curves (rounded
  rectangles to ellipses) with the most evidence along them, each point moved onto its
  rim, drawn whole with the rims' measured width where they count along most of their
  length (else only their long runs: a broken rim looks worse than none), with the bridge
  and the arms (their short pieces left out); softened, kept in the canonical band and
  warped onto the frame by each frame's similarity (the lenses' interior is not kept: the
  source's eyes show through).

Per frame only the similarity fit and one small warp run, on faces wearing glasses (the
evidence every few frames; on a clearly bare face only the evidence, and more rarely).

Example:
    >>> import numpy as np
    >>> from facestream.models.landmarks import MEAN_SHAPE
    >>> model = GlassesModel()
    >>> face = np.full((200, 200, 3), 150, np.uint8)
    >>> points = np.asarray(MEAN_SHAPE, np.float32) * 160 + 20
    >>> model.glasses(face, points) is None  # a bare face: nothing kept
    True
"""

from __future__ import annotations

import cv2
import numpy as np

from facestream.filters.blend import grown_polygon
from facestream.models.landmarks import LEFT_EYE, MEAN_SHAPE, RIGHT_EYE

# The canonical band: eye distances (between the eye centres) from the eyes' midpoint,
# x right, y down, sampled at SCALE px per eye distance. It holds the lenses, the bridge
# and the arms out to the face sides.
SCALE = 80.0
BAND_X, BAND_Y = (-1.2, 1.2), (-0.45, 0.62)
BAND_W = int(round((BAND_X[1] - BAND_X[0]) * SCALE))
BAND_H = int(round((BAND_Y[1] - BAND_Y[0]) * SCALE))
# The points the band's similarity is fitted on: eye corners and the nose bridge's top
# (rigid with the skull; the brows and lids move with the expression). Not the jaw's top
# ends beside the eyes, which slide as the head turns, nor the nose further down, which
# moves against the eyes as the head nods: an affine on those smeared a turning head's
# rims over the band (a drawn pair on sadtalker/KatieHill: 0.07 and 0.46 of its rims kept,
# against 0.84).
ANCHORS = np.array([36, 39, 42, 45, 27, 28], np.int64)
_EYES = (np.asarray(RIGHT_EYE, np.int64), np.asarray(LEFT_EYE, np.int64))


def _canonical_points() -> np.ndarray:
    shape = np.asarray(MEAN_SHAPE, np.float64)
    right, left = (shape[eye].mean(axis=0) for eye in _EYES)
    unit = (shape - 0.5 * (right + left)) / np.linalg.norm(left - right)
    return ((unit - [BAND_X[0], BAND_Y[0]]) * SCALE).astype(np.float64)


_CANON = _canonical_points()

# Evidence is taken on each of a track's first WARMUP frames (it decides after them: one
# frame's evidence is noisy, unless both cues already agree, `_redraw`), then every
# EVIDENCE_EVERY frames.
WARMUP = 4
EVIDENCE_EVERY = 6
# A track decided within its warm-up is fitted on each of its frames, on the evidence so
# far (1-3 frames: provisional), and afresh at the warm-up's end, as if first: its fit,
# widths and lid count from then on are those of a track decided there (the climb's vote,
# `CREASE_LEARNS`, is fragile: learning on each of a wearing track's first 12 frames made
# liveportrait/d19's climb start at frame 3, 78, 8 and 54 with the file, Kalman, flow
# and raw landmarks, against 18, 30, 30 and 18).
# A track clearly bare, its score under BARE_SCORE and its lower rims not closed (under
# CLOSED_OFF) on BARE_LEARNS learns in a row (the warm-up's count; not wearing), learns
# only every BARE_EVERY frames (most faces: the evidence pass costs about 1.4 ms at
# 720p); one learn otherwise brings back EVIDENCE_EVERY.
# The 5 bare clips of bench/swap_glasses.py score 0.7-1.6; the 3 decided glasses clips over
# 4 on every learn, the 2 undecided over 2 in their warm-up, and the glasses drawn on the
# bare clips over 2 from their second learn: all decided at the same frames. A face
# putting glasses on mid-track is decided later: on tests/test_glasses_pace.py's at frame
# 60, at frame 108 instead of 78.
BARE_SCORE = 2.0
BARE_LEARNS = 4
BARE_EVERY = 24
# Weight of each new evidence frame (a plain mean over the first ones).
LEARN_RATE = 0.15
# Structuring element of the black-hat / top-hat (canonical px): thin metal rims (1-3 px)
# to thick plastic frames (about 0.08 eye distances).
LINE_KERNEL = 9
# The lines are sought in luma and, scaled by CHROMA_GAIN, in chroma (Cr, Cb): a silver rim
# on bright skin or a gold wire has little luma contrast but is greyer or yellower than the
# skin (drawn on 5 bare clips: silver found on 3 of 5 clips, gold on 2, luma only; 4 and
# 4 with chroma), and bare faces' scores fell (the highest of 21 bare clips 3.3 -> 1.9).
CHROMA_GAIN = 3.0
# Directions around each eye, and the radii searched (canonical px): from the eye's own
# opening grown by EYE_MARGIN (lids, lashes), at least MIN_RADIUS, to an ellipse of
# RIM_REACH eye distances.
ANGLES = 64
EYE_MARGIN = 0.07
MIN_RADIUS = 0.18
MIN_BELOW = 0.2  # the lower rim's least distance (lower lashes and lids lie within it)
CLEAR = 0.05  # a rim this far past the eye's own reach is clear of its lids and lashes
RIM_REACH = (0.62, 0.4, 0.56)  # horizontal, up and down semi-axes
RADII = int(RIM_REACH[0] * SCALE) + 1
SMOOTH = 9  # directions (or columns) in the median along a curve
# A rim pixel is one within RIM_HALF eye distances of the curve whose evidence reaches
# RIM_SHARE of the curve's there (a bridge's or arm's alike).
RIM_SHARE = 0.6
RIM_HALF = 0.06
# The bridge is measured over the nose's middle (BRIDGE_X) and drawn from rim to rim, in
# rows BRIDGE_Y; the arms from each rim's outer edge to the band's end, rows ARM_Y.
BRIDGE_X = (-0.15, 0.15)
BRIDGE_Y = (-0.3, 0.12)
ARM_Y = (-0.32, 0.12)
# Every strength is over the band's usual level (its LEVEL_PERCENTILE: skin texture). A
# stretch of curve (rim, bridge, arm) is drawn where it passes CURVE_MIN (at 3, with the
# chroma raising the level, a third of liveportrait/d19's faint lower rim was lost). The
# track's score is the lower of its lower rims' median strength and half its bridge's
# (bare faces' lower lashes, lids and eye bags lie within MIN_BELOW; frown lines, the
# nose's sides and strands of hair cross the bridge, but not both at once); it wears
# glasses when the score passes WEAR_ON, and stops when it falls under WEAR_OFF. Measured
# on 21 bare and 5 glasses clips (docs/SWAP.md, *The target's glasses*). WEAR_OFF lies
# under the bare clips' highest (1.9; they never reach WEAR_ON, so it never applies to
# them): liveportrait/d9's glasses, worn all through its 587 frames, score down to 2.03 as
# the head moves, and at 2.6 they were dropped for frames 258-479 and from 582.
LEVEL_PERCENTILE = 25
CURVE_MIN = 2.0
WEAR_ON, WEAR_OFF = 3.5, 1.5
# A second way to wear them: both lower rims closed, `closed` (the least share, over the
# two eyes, of the lower rim's directions that pass CURVE_MIN and lie CLEAR of the lids)
# over CLOSED_ON with the lower rims' strength over CLOSED_LOWER; it stops under
# CLOSED_OFF (and the score under WEAR_OFF). Thick frames on a small face turned a little
# (spectre/0Fi83: 224 px, about 40 px between the eyes) blur their bridge into the brows'
# shadow (half its strength 1.6-2.2, against bare faces' up to 4.5 with frown lines or hair)
# and their lower rims lie at 3.1-3.7, inside the bare faces' range (up to 4.0: lashes on
# the lids); but no bare face's lower rim is both counted and clear of the lids all along:
# over every frame of 24 bare talking-head clips `closed` reaches 0.52 (spectre/M026), the
# glasses of d19, retalking/5 and 0Fi83 0.86-1.0 (d9 0.62-1.0, decided by its score), d12's
# clear plastic 0.14-0.67 (`bench/swap_glasses.py --scores`, docs/BENCHMARKS.md).
CLOSED_ON, CLOSED_OFF = 0.85, 0.6
CLOSED_LOWER = 2.5
# Frames over which the kept glasses fade in or out when the decision changes (not when a
# track decides it wears them within its first WARMUP frames: they were there all along,
# and a fade-in showed the source's skin through the rims).
FADE_FRAMES = 4
# The kept rims: each lens's rim fitted as one closed curve, a superellipse (an ellipse at
# exponent 2, a rounded rectangle at 4) in a box around the eye, whose edges and exponent
# maximise the mean evidence along it (clipped at FIT_CAP times the band's level, so a
# glint does not pull it), the eye grown by FIT_MARGIN eye distances inside it; sampled
# at LENS_SAMPLES points. Drawn with the rim's measured width, wholly where it counts
# along WHOLE of its length once gaps up to GAP samples are closed, else only its runs of
# at least MIN_RUN samples (the lower rim of thick frames whose top is lost in the brows'
# shadow): a broken rim looks worse than none. Carried over redraws (each new fit moves
# the curve by FIT_RATE of the way), so it does not jump.
LENS_SAMPLES = 96
EXPONENTS = (2.0, 3.0, 4.0)
FIT_CAP = 6.0
FIT_PERCENTILE = 30
FIT_MARGIN = 0.02
FIT_ROUNDS = 3
FIT_STEP = 4.0  # px: how far a track's later fits look from its last (one round)
FIT_RATE = 0.5
# A faint top rim under a strong lid crease (liveportrait/d19): the fit takes the crease,
# whose evidence is several times the rim's. Where the bridge is clear (over CLIMB_BRIDGE
# times the band's level: it alone would decide the pair is worn) and the fitted top lies
# at the lids (within CREASE eye distances of the eyes' top) on CREASE_LEARNS learns more
# than not (the count never below 0), the track's fitted tops are from then on raised
# while both curves count along as much of their length, less CLIMB_LOSS (`_climb`): the
# outer of the two. d19's bridge lies at 8.9-11, its fitted top 0.03-0.07 over the eyes,
# and its tops rose 0.17-0.2 eye distances onto the rims (from its 5th learn on). Not
# raised: spectre/0Fi83's thick frames, whose top rims do lie at the lids (0.05 over the
# eyes), with a blurred bridge (2.6-3.2); glasses drawn on 5 bare clips, whose top rims
# lie 0.14-0.18 over the eyes (raised, they left their rims for the brows above: recall
# 0.95 -> 0.83), thick black ones 0.05-0.13 (their first fits 0.065, once 0.05: at 0.1
# and at once, KatieHill's were raised into her brows).
CLIMB_BRIDGE = 2.0 * WEAR_ON
CREASE = 0.06
CREASE_LEARNS = 4
CLIMB_LOSS = 0.02
WHOLE = 0.8
GAP = 12
MIN_RUN = 24
MIN_PIECE = 6  # columns: the least piece of a bridge or arm drawn
PROFILE = 8  # canonical px either side of the curve where the rim's width is measured
SNAP = 3  # px from the fitted curve within which each sample's rim is sought
# Px added to a rim's width in one frame: the band places it a pixel apart from frame to
# frame, and a mask just the rim's width loses its edges to that and to the softening. At
# 2 the lenses' inside was kept next to drawn thin rims (tests/test_glasses.py).
RIM_PLACEMENT = 1.0
# The least width drawn (px): a 1 px line, softened and warped, falls under half alpha in
# places (a gold wire drawn on liveportrait/d0, measured 1-2 px wide: 0.59 of it kept, in
# 3 runs a rim; at 2 px all of it, in one run, 3.5 times its area; at 3 px 5 times).
MIN_WIDTH = 2.0

_LINE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (LINE_KERNEL, LINE_KERNEL))
_SPREAD = np.ones((3, 3), np.uint8)
_THETA = np.linspace(0.0, 2.0 * np.pi, ANGLES, endpoint=False)
_DIRECTIONS = np.stack([np.cos(_THETA), np.sin(_THETA)], axis=1)
_DOWN = _DIRECTIONS[:, 1] > 0.5  # the lower rim's directions (y down)
_LENS_T = np.linspace(0.0, 2.0 * np.pi, LENS_SAMPLES, endpoint=False)


def _columns(x: tuple[float, float]) -> tuple[int, int]:
    return int(round((x[0] - BAND_X[0]) * SCALE)), int(round((x[1] - BAND_X[0]) * SCALE))


_ANCHORED = _CANON[ANCHORS] - _CANON[ANCHORS].mean(axis=0)
_ANCHOR_MEAN = _CANON[ANCHORS].mean(axis=0)
_ANCHOR_NORM = float((_ANCHORED**2).sum())


def band_affine(points: np.ndarray) -> np.ndarray:
    """2x3 float64 similarity taking canonical band pixels to the image with landmarks
    `points` (least squares on `ANCHORS`).

    In closed form (the similarity as a complex factor: the same least squares as
    `shape.fit_similarity`'s SVD without the SVD, a fifth of its cost: this runs on every
    frame of a face wearing glasses)."""
    anchors = np.asarray(points, np.float64)[ANCHORS]
    mean = anchors.mean(axis=0)
    centred = anchors - mean
    a = float((_ANCHORED * centred).sum()) / _ANCHOR_NORM
    b = float((_ANCHORED[:, 0] * centred[:, 1] - _ANCHORED[:, 1] * centred[:, 0]).sum())
    b /= _ANCHOR_NORM
    linear = np.array([[a, -b], [b, a]])
    return np.hstack([linear, (mean - linear @ _ANCHOR_MEAN)[:, None]])


class GlassesModel:
    """One face track's glasses: evidence, decision and canonical mask (per-track state).

    Attributes:
        evidence: float32 `(BAND_H, BAND_W)` accumulated line strength, or None.
        frames: frames seen; evidence_frames: frames whose evidence was learned.
        bare_learns: learns in a row that scored under `BARE_SCORE` (not wearing).
        wearing: the track's decision (False until WARMUP frames are learned, unless
            both cues agree sooner).
        score: the decision's measure (`WEAR_ON`), last measured.
        lower, bridge: its two cues, last measured: the lower rims' median strength and
            the bridge's, over the band's usual level.
        closed: the least share of a lower rim's directions that count and lie clear of
            the lids (`CLOSED_ON`), last measured.
        mask: float32 `(BAND_H, BAND_W)` canonical mask (1 = glasses), or None.
        shown: the mask's share shown now (fades with the decision).
    """

    def __init__(self) -> None:
        self.evidence: np.ndarray | None = None
        self.frames = 0
        self.evidence_frames = 0
        self.bare_learns = 0
        self.wearing = False
        self.score = 0.0
        self.lower = 0.0
        self.bridge = 0.0
        self.closed = 0.0
        self.mask: np.ndarray | None = None
        self.shown = 0.0
        self._eyes: np.ndarray | None = None  # canonical eye polygons, running mean
        self._lenses: np.ndarray | None = None  # the rims' fitted pair (`_fit_lenses`)
        self._climbs = False  # the fitted tops are raised (`CREASE`)
        self._lid_tops = 0  # fits whose top lay at the lids under a clear bridge, less others
        self._widths: np.ndarray | None = None  # the rims' measured widths (`_trace`)

    def glasses(
        self, image: np.ndarray, points: np.ndarray
    ) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Where the target's glasses are in `image` (uint8 RGB, a face box; landmarks
        `points` in its pixels): a sub-region of the box and its float32 share (1 = the
        glasses), or None when the track wears none. Learns the frame on the track's first
        `WARMUP` frames and every `EVIDENCE_EVERY` frames after (`BARE_EVERY` while the
        track is clearly bare)."""
        every = BARE_EVERY if self.bare_learns >= BARE_LEARNS else EVIDENCE_EVERY
        affine = None
        if self.frames < WARMUP or self.frames % every == 0:
            affine = band_affine(points)
            self._learn(image, points, affine)
        self.frames += 1
        if self.wearing and self.frames <= WARMUP:
            self.shown = 1.0  # worn from the track's start (`FADE_FRAMES`)
        step = 1.0 / FADE_FRAMES
        self.shown = min(max(self.shown + (step if self.wearing else -step), 0.0), 1.0)
        if self.shown <= 0.0 or self.mask is None:
            return None  # most faces: no fit on the frames that learn nothing
        if affine is None:
            affine = band_affine(points)
        kept = _to_image(self.mask, affine, image.shape[:2])
        if kept is not None and self.shown < 1.0:
            kept[1][:] *= np.float32(self.shown)
        return kept

    def _learn(self, image: np.ndarray, points: np.ndarray, affine: np.ndarray) -> None:
        """Fold this frame's line evidence into the band, then re-decide and redraw."""
        sampled = band_pixels(image, affine)
        if sampled is None:
            return  # the band lies wholly outside the box
        band, seen = sampled
        lines = np.maximum(
            cv2.morphologyEx(band, cv2.MORPH_BLACKHAT, _LINE),
            cv2.morphologyEx(band, cv2.MORPH_TOPHAT, _LINE),
        ).astype(np.float32)
        line = np.maximum(lines[..., 0], CHROMA_GAIN * np.maximum(lines[..., 1], lines[..., 2]))
        # Spread by a pixel: the affine places a rim a pixel or two apart from frame to frame
        # (the glasses sit in front of the eyes; a turn shifts them), and the mean of
        # sharp lines so misplaced would fade.
        sharp = line
        line = cv2.dilate(line, _SPREAD).astype(np.float32)
        # Pixels past the box edge are not evidence (their neighbours are the border).
        valid = cv2.erode(seen, _LINE) == 255
        inverse = cv2.invertAffineTransform(affine)
        eyes = np.stack([_apply(inverse, points[eye]) for eye in _EYES])
        if self.evidence is None or self._eyes is None:
            self.evidence = np.where(valid, line, 0.0).astype(np.float32)
            self._eyes = eyes
        else:
            rate = max(1.0 / (self.evidence_frames + 1), LEARN_RATE)
            self.evidence += np.float32(rate) * (line - self.evidence) * valid
            self._eyes += rate * (eyes - self._eyes)
        self.evidence_frames += 1
        self._redraw(sharp)

    def _redraw(self, sharp: np.ndarray) -> None:
        """The decision and the canonical mask from the evidence so far (`sharp`: this
        frame's lines, where the rims' widths are measured)."""
        assert self.evidence is not None and self._eyes is not None
        evidence = self.evidence
        level = max(float(np.percentile(evidence, LEVEL_PERCENTILE)), 0.5)
        midline = float(self._eyes[:, :, 0].mean())
        rims = [_rim(evidence, eye, midline) for eye in self._eyes]
        down = float(np.median(np.concatenate([strength[_DOWN] for _, _, strength, _ in rims])))
        self.closed = min(
            float(np.mean(((strength >= CURVE_MIN * level) & clear)[_DOWN]))
            for _, _, strength, clear in rims
        )
        bridge = _rows(evidence, _columns(BRIDGE_X), BRIDGE_Y, level)
        self.lower, self.bridge = down / level, bridge / level
        self.score = min(self.lower, 0.5 * self.bridge)
        rimmed = self.closed > CLOSED_ON and self.lower > CLOSED_LOWER
        if self.evidence_frames < WARMUP:
            # Before the warm-up's end, only both cues at once: on a track's first learns no
            # bare clip has either (scores up to 3.0, `closed` up to 0.48), the glasses of
            # d9, d19 and retalking/5 both (6.0-10.7 and 0.86-1.0), so their rims are kept
            # from the track's first frame.
            self.wearing = self.wearing or (self.score > WEAR_ON and rimmed)
        else:
            if self.score > WEAR_ON or rimmed:
                self.wearing = True
            elif self.score < WEAR_OFF and self.closed < CLOSED_OFF:
                self.wearing = False
        bare = not self.wearing and self.score < BARE_SCORE and self.closed < CLOSED_OFF
        self.bare_learns = self.bare_learns + 1 if bare else 0
        if not self.wearing:
            return  # the last mask stays for the fade out
        if self.evidence_frames == WARMUP:
            self._lenses, self._widths, self._lid_tops = None, None, 0  # the fit afresh
        canvas = np.zeros((BAND_H, BAND_W), np.uint8)
        start = _rims_pair(self._eyes, rims, midline) if self._lenses is None else self._lenses
        refine = self._lenses is not None
        eyes = self._eyes
        fitted = _fit_lenses(evidence, eyes, midline, level, start, refine, self._climbs)
        lids = float(eyes[:, :, 1].min()) - CREASE * SCALE
        at_lids = self.bridge >= CLIMB_BRIDGE and fitted[2] > lids
        self._lid_tops = max(self._lid_tops + (1 if at_lids else -1), 0)
        if not self._climbs and self._lid_tops >= CREASE_LEARNS:
            self._climbs = True  # a top at the lids under a clear bridge: a crease
            fitted = self._lenses = _fit_lenses(evidence, eyes, midline, level, fitted, True, True)
        self._lenses = fitted if self._lenses is None else start + FIT_RATE * (fitted - start)
        boxes = _lens_boxes(self._lenses, midline)
        traced = [_trace(evidence, lens, level, sharp) for lens in boxes]
        widths = np.array([width for _, _, width in traced])
        if self._widths is not None:  # steady: each measure moves it by FIT_RATE
            widths = np.where(
                widths > 0, self._widths + FIT_RATE * (widths - self._widths), self._widths
            )
        self._widths = widths
        for (curve, kept, _), width in zip(traced, widths, strict=True):
            _draw_curve(canvas, curve, kept, width)
        (r_lo, r_hi), (l_lo, l_hi) = sorted(
            (int(np.floor(lens[0])), int(np.ceil(lens[1]))) for lens in boxes
        )
        _rows(evidence, (r_hi, l_lo), BRIDGE_Y, level, canvas)
        _rows(evidence, (0, r_lo), ARM_Y, level, canvas)
        _rows(evidence, (l_hi, BAND_W), ARM_Y, level, canvas)
        # The eyes' own openings are never glasses (the rims lie outside them).
        for eye in self._eyes:
            cv2.fillPoly(canvas, [np.round(eye).astype(np.int32)], 0)
        soft = canvas.astype(np.float32) * np.float32(1.0 / 255.0)
        self.mask = cv2.GaussianBlur(soft, (0, 0), 0.8)


def band_pixels(image: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The YCrCb of `image` over the canonical band (uint8), and where the image covers it
    (255): only the band's part of the box is converted, shrunk first by the whole factor
    by which the face is larger than the band's scale (no aliasing of thin rims, and a
    fraction of the pixels)."""
    corners = _apply(affine, np.array([[0, 0], [BAND_W, 0], [0, BAND_H], [BAND_W, BAND_H]]))
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, (w, h))
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 1, 0, (w, h))
    k = max(1, int(np.sqrt(abs(np.linalg.det(affine[:, :2])))))
    ws, hs = (x1 - x0) // k, (y1 - y0) // k
    if ws < 2 or hs < 2:
        return None
    crop = image[y0 : y0 + hs * k, x0 : x0 + ws * k]
    if k > 1:
        crop = cv2.resize(crop, (ws, hs), interpolation=cv2.INTER_AREA)
    colour = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)
    # Pixel centres: x_small + 0.5 = (x - x0 + 0.5) / k.
    local = affine / k
    local[:, 2] = (affine[:, 2] - (x0, y0) + 0.5) / k - 0.5
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    band = cv2.warpAffine(colour, local, (BAND_W, BAND_H), flags=flags)
    whole = np.full(colour.shape[:2], 255, np.uint8)
    seen = cv2.warpAffine(whole, local, (BAND_W, BAND_H), flags=flags)
    return band, seen


def _apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ affine[:, :2].T + affine[:, 2]


def _rim(
    evidence: np.ndarray, eye: np.ndarray, midline: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rim around one eye (canonical polygon `eye`), on its side of the column
    `midline` (the other lens lies past it): the eye's centre, and the rim's radius and
    strength per direction (`_DIRECTIONS`), and whether it lies clear of the eye's own
    reach (by `CLEAR` eye distances: not the lids' and lashes' line)."""
    centre = eye.mean(axis=0)
    # The eye's own reach per direction: the largest projection of its grown outline.
    reach = (grown_polygon(eye, EYE_MARGIN * SCALE) - centre) @ _DIRECTIONS.T
    inner = np.maximum(reach.max(axis=0), np.where(_DOWN, MIN_BELOW, MIN_RADIUS) * SCALE)
    vertical = np.where(_DIRECTIONS[:, 1] < 0, RIM_REACH[1], RIM_REACH[2])
    outer = 1.0 / np.hypot(
        _DIRECTIONS[:, 0] / (RIM_REACH[0] * SCALE), _DIRECTIONS[:, 1] / (vertical * SCALE)
    )
    radii = np.arange(RADII, dtype=np.float32)
    map_x = (centre[0] + _DIRECTIONS[:, :1] * radii).astype(np.float32)
    map_y = (centre[1] + _DIRECTIONS[:, 1:] * radii).astype(np.float32)
    polar = cv2.remap(evidence, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)
    allowed = (radii >= inner[:, None]) & (radii <= outer[:, None])
    allowed &= (map_x < midline - 1.0) if centre[0] < midline else (map_x > midline + 1.0)
    polar = np.where(allowed, polar, 0.0)
    best = polar.argmax(axis=1)
    # One closed curve: each direction's radius the median of its SMOOTH neighbours' (a
    # brow or a crease picked over a few directions is an outlier).
    ring = np.concatenate([best[-(SMOOTH // 2) :], best, best[: SMOOTH // 2]])
    radius = np.median(np.lib.stride_tricks.sliding_window_view(ring, SMOOTH), axis=1)
    radius = np.clip(radius, inner, outer)
    rows = np.arange(ANGLES)
    strength = polar[rows, np.round(radius).astype(int).clip(0, RADII - 1)]
    return centre, radius, strength, radius >= inner + CLEAR * SCALE


def _rims_pair(eyes: np.ndarray, rims: list, midline: float) -> np.ndarray:
    """A first pair of lenses (`_lens_boxes`): the mean extents of the rims' curves (`_rim`)."""
    extents = []
    for eye, (_, radius, _, _) in zip(eyes, rims, strict=True):
        points = eye.mean(axis=0) + _DIRECTIONS * radius[:, None]
        across = np.abs(points[:, 0] - midline)
        extents.append([across.max(), across.min(), points[:, 1].min(), points[:, 1].max()])
    return np.array([*np.mean(extents, axis=0), EXPONENTS[0]])


def _lens_boxes(pair: np.ndarray, midline: float) -> np.ndarray:
    """The two lenses' boxes (`_lens_curve`, right eye first) of a mirrored pair `pair`:
    outer and inner edge's distance from the column `midline`, top, bottom, exponent."""
    outer, inner, top, bottom, exponent = pair
    return np.array(
        [
            [midline - outer, midline - inner, top, bottom, exponent],
            [midline + inner, midline + outer, top, bottom, exponent],
        ]
    )


def _lens_curve(lenses: np.ndarray) -> np.ndarray:
    """`(K, LENS_SAMPLES, 2)` points of the superellipses in the boxes `lenses` `(K, 5)`:
    left, right, top, bottom (canonical px) and exponent."""
    lenses = np.atleast_2d(lenses)
    mid = 0.5 * (lenses[:, [0, 2]] + lenses[:, [1, 3]])
    half = 0.5 * (lenses[:, [1, 3]] - lenses[:, [0, 2]])
    power = 2.0 / lenses[:, 4:5]
    cos, sin = np.cos(_LENS_T), np.sin(_LENS_T)
    x = mid[:, :1] + half[:, :1] * np.sign(cos) * np.abs(cos) ** power
    y = mid[:, 1:] + half[:, 1:] * np.sign(sin) * np.abs(sin) ** power
    return np.stack([x, y], axis=2)


def _along(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`image` (float32) sampled at `points` `(..., 2)` (bilinear, 0 outside)."""
    flat = points.reshape(-1, points.shape[-2], 2).astype(np.float32)
    out = cv2.remap(image, flat[..., 0], flat[..., 1], cv2.INTER_LINEAR, borderValue=0.0)
    return out.reshape(points.shape[:-1])


def _fit_lenses(
    evidence: np.ndarray,
    eyes: np.ndarray,
    midline: float,
    level: float,
    start: np.ndarray,
    refine: bool,
    climb: bool = False,
) -> np.ndarray:
    """The rims as a pair of closed curves mirrored about `midline` (`_lens_boxes`: in the
    head-fixed band the lenses are alike, and one lens's clear side holds up the other's
    faint one), holding the eyes: the pair with the most evidence along both curves, by
    coordinate ascent from `start` (each parameter over its whole range in turn, with
    every exponent, by 2 px, then refined; when `refine`, once, by 1 px within FIT_STEP
    of `start`); when `climb`, its top raised as far as it counts (`_climb`)."""
    grown = [grown_polygon(eye, FIT_MARGIN * SCALE) for eye in eyes]
    centres = eyes.mean(axis=1)
    across = [np.abs(g[:, 0] - midline) for g in grown]
    reach = np.array(RIM_REACH) * SCALE
    lo = np.array(
        [
            max(a.max() for a in across),
            1.0,
            float(centres[:, 1].min()) - reach[1],
            max(max(g[:, 1].max() for g in grown), float(centres[:, 1].max()) + MIN_BELOW * SCALE),
        ]
    )
    hi = np.array(
        [
            float(np.abs(centres[:, 0] - midline).min()) + reach[0],
            min(a.min() for a in across),
            min(g[:, 1].min() for g in grown),
            float(centres[:, 1].max()) + reach[2],
        ]
    )
    hi = np.maximum(hi, lo)
    clipped = np.clip(evidence * np.float32(1.0 / level), 0.0, FIT_CAP)
    pair = np.asarray(start, np.float64).copy()
    pair[:4] = np.clip(pair[:4], lo, hi)
    highest = float(lo[2])  # a climb is not held within FIT_STEP
    if refine:
        lo, hi = np.maximum(lo, pair[:4] - FIT_STEP), np.minimum(hi, pair[:4] + FIT_STEP)
    kth = int(FIT_PERCENTILE / 100 * (2 * LENS_SAMPLES - 1))
    step = 1.0 if refine else 2.0  # px: a first fit's whole ranges, coarser
    for _ in range(1 if refine else FIT_ROUNDS):
        for edge in range(4):
            values = np.arange(lo[edge], hi[edge] + 0.5 * step, step)
            candidates = np.repeat(pair[None], len(values) * len(EXPONENTS), axis=0)
            candidates[:, edge] = np.tile(values, len(EXPONENTS))
            candidates[:, 4] = np.repeat(EXPONENTS, len(values))
            held = np.ones(len(candidates), bool)
            along = []
            for side in range(2):
                boxes = _lens_boxes(candidates.T, midline)[side].T
                along.append(_along(clipped, _lens_curve(boxes)))
                held &= _encloses(boxes, grown[side])
            both = np.concatenate(along, axis=1)
            score = np.partition(both, kth, axis=1)[:, kth] + 0.1 * both.mean(axis=1)
            score[~held] = -1.0
            pair = candidates[int(score.argmax())]
    if climb:
        pair = _climb(clipped, grown, midline, pair, highest)
    return pair if refine else _fit_lenses(evidence, eyes, midline, level, pair, True, climb)


def _climb(
    clipped: np.ndarray, grown: list[np.ndarray], midline: float, pair: np.ndarray, least: float
) -> np.ndarray:
    """`pair` with its top raised by whole pixels (down to `least`) while both curves still
    count (`CURVE_MIN`, over `clipped`: the evidence over the band's level) along as much
    of their length as the fitted pair's, less CLIMB_LOSS, and WHOLE of it: the outer of
    a faint top rim and a strong lid crease under it (a rim fitted on its own line loses
    its sides at once when raised)."""

    def counted(candidate: np.ndarray) -> float:
        return float(
            (_along(clipped, _lens_curve(_lens_boxes(candidate, midline))) >= CURVE_MIN).mean()
        )

    least_share = max(counted(pair) - CLIMB_LOSS, WHOLE)
    out = pair.copy()
    while out[2] - 1.0 >= least:
        raised = out.copy()
        raised[2] -= 1.0
        boxes = _lens_boxes(raised, midline)
        if counted(raised) < least_share or not all(
            _encloses(boxes[side : side + 1], grown[side])[0] for side in range(2)
        ):
            break
        out = raised
    return out


def _encloses(lenses: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Whether each superellipse (`_lens_curve`) holds every point of `polygon`."""
    mid = 0.5 * (lenses[:, [0, 2]] + lenses[:, [1, 3]])
    half = np.maximum(0.5 * (lenses[:, [1, 3]] - lenses[:, [0, 2]]), 1e-6)
    scaled = np.abs(polygon[None] - mid[:, None]) / half[:, None]
    return ((scaled ** lenses[:, None, 4:5]).sum(axis=2) <= 1.0).all(axis=1)


def _trace(
    evidence: np.ndarray, lens: np.ndarray, level: float, sharp: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """A lens's rim (`_fit_lenses`) as drawn: its curve `(LENS_SAMPLES, 2)`, each point
    moved onto the rim; which points to draw (`_whole`); and the width to draw it (px, 0
    where it counts nowhere): its width in this frame's lines `sharp`, and a pixel each
    side."""
    points = _lens_curve(lens)[0]
    tangent = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
    offsets = np.arange(-PROFILE, PROFILE + 1, dtype=np.float64)
    profile = _along(evidence, points[:, None] + normal[:, None] * offsets[None, :, None])
    counted = profile[:, PROFILE - 2 : PROFILE + 3].max(axis=1) >= CURVE_MIN * level
    # Where the rim lies across the curve: each sample's peak within SNAP px (to a
    # fraction of a pixel: the parabola through it), smoothed along the curve (the
    # superellipse only nears the frame's own shape).
    near = profile[:, PROFILE - SNAP : PROFILE + SNAP + 1].argmax(axis=1) - SNAP
    at = np.arange(len(points))
    before, peak, after = (profile[at, PROFILE + near + k] for k in (-1, 0, 1))
    bend = before - 2.0 * peak + after
    sub = near + np.where(bend < 0, 0.5 * (before - after) / np.minimum(bend, -1e-6), 0.0)
    ring = np.concatenate([sub[-(SMOOTH // 2) :], sub, sub[: SMOOTH // 2]])
    shift = np.median(np.lib.stride_tricks.sliding_window_view(ring, SMOOTH), axis=1)
    curve = points + normal * shift[:, None]
    if not counted.any():
        return curve, counted, 0.0
    # Its width, in one frame's lines (the evidence is the mean of many, each placed a
    # pixel or two apart: its rims are 2-3 times as wide): the profiles across the curve,
    # each moved onto its own peak, averaged; where that stays over half its height
    # above its foot.
    lines = _along(sharp, curve[:, None] + normal[:, None] * offsets[None, :, None])
    rows = np.flatnonzero(counted)
    near = lines[rows, PROFILE - SNAP : PROFILE + SNAP + 1].argmax(axis=1) - SNAP
    columns = np.clip(PROFILE + near[:, None] + np.arange(-PROFILE, PROFILE + 1), 0, 2 * PROFILE)
    mean = lines[rows[:, None], columns].mean(axis=0)
    half = 0.5 * (mean[PROFILE] + mean.min())
    low = high = PROFILE
    while low > 0 and mean[low - 1] >= half:
        low -= 1
    while high < 2 * PROFILE and mean[high + 1] >= half:
        high += 1
    return curve, _whole(counted), float(high - low + 1 + RIM_PLACEMENT)


def _draw_curve(canvas: np.ndarray, curve: np.ndarray, kept: np.ndarray, width: float) -> None:
    """Draws on `canvas` (255) the `kept` runs of a closed `curve`, `width` px wide."""
    thickness = int(round(np.clip(width, MIN_WIDTH, LINE_KERNEL)))
    for run in _runs(kept):
        line = np.round(curve[run] * 16).astype(np.int32)  # 4 fractional bits
        cv2.polylines(canvas, [line], len(run) == len(curve), 255, thickness, cv2.LINE_AA, 4)


def _whole(counted: np.ndarray) -> np.ndarray:
    """Which samples of a closed rim to draw: its counted samples (`counted`) with gaps up
    to GAP closed and runs under MIN_RUN dropped; all of them once that is WHOLE."""
    kept = _fill(_fill(counted, False, GAP), True, MIN_RUN - 1)
    return np.ones_like(kept) if kept.mean() >= WHOLE else kept


def _fill(flags: np.ndarray, value: bool, longest: int) -> np.ndarray:
    """`flags` (a ring) with its runs of `value` up to `longest` long flipped."""
    out = flags.copy()
    for run in _runs(flags == value):
        if len(run) <= longest:
            out[run] = not value
    return out


def _runs(flags: np.ndarray) -> list[np.ndarray]:
    """The runs of True of the ring `flags`, each as its indices in order."""
    if flags.all():
        return [np.arange(len(flags))]
    first = int(np.argmin(flags))  # a False: no run wraps past it
    order = (np.arange(len(flags)) + first) % len(flags)
    rolled = flags[order]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], rolled.astype(np.int8), [0]])))
    return [order[a:b] for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _rows(
    evidence: np.ndarray,
    columns: tuple[int, int],
    rows: tuple[float, float],
    level: float,
    canvas: np.ndarray | None = None,
) -> float:
    """A roughly horizontal structure (bridge, arm) over `columns`, searched over `rows`
    (eye distances): per column the strongest row, smoothed along. Returns its median
    strength; draws it on `canvas` when given."""
    x0, x1 = max(columns[0], 0), min(columns[1], BAND_W)
    y0 = int(round((rows[0] - BAND_Y[0]) * SCALE))
    y1 = int(round((rows[1] - BAND_Y[0]) * SCALE))
    if x1 - x0 < 3:
        return 0.0
    part = evidence[y0:y1, x0:x1]
    best = part.argmax(axis=0)
    padded = np.pad(best, SMOOTH // 2, mode="edge")
    row = np.median(np.lib.stride_tricks.sliding_window_view(padded, SMOOTH), axis=1).astype(int)
    cols = np.arange(x1 - x0)
    strength = part[row, cols]
    if canvas is None:
        return float(np.median(strength))
    # As a rim's (`_draw_rim`): near the row, strong, and the row itself, where it counts.
    # Pieces under MIN_PIECE columns are left out (a broken arm looks worse than none).
    counted = _fill(np.append(strength >= CURVE_MIN * level, False), True, MIN_PIECE - 1)[:-1]
    off = np.abs(np.arange(y1 - y0)[:, None] - row)
    strong = (off <= RIM_HALF * SCALE) & (part >= RIM_SHARE * strength)
    canvas[y0:y1, x0:x1][(strong | (off == 0)) & counted] = 255
    return float(np.median(strength))


def _to_image(
    mask: np.ndarray, affine: np.ndarray, shape: tuple[int, int]
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """The canonical `mask` warped into the part of a box of `shape` that the band covers."""
    corners = _apply(affine, np.array([[0, 0], [BAND_W, 0], [0, BAND_H], [BAND_W, BAND_H]]))
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + 1, shape[1])
    y1 = min(int(np.ceil(corners[:, 1].max())) + 1, shape[0])
    if x1 <= x0 or y1 <= y0:
        return None
    shifted = affine.copy()
    shifted[:, 2] -= (x0, y0)
    out = cv2.warpAffine(mask, shifted, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR)
    return (slice(int(y0), int(y1)), slice(int(x0), int(x1))), out
