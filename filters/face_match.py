"""Swap only the faces that look like a reference photo (`facestream swap --only-like`).

A face is described from our own 128 landmarks and its pixels, with no recognition
network: the iBUG-68 subset of the landmarks aligns the inner face (brows to below the
mouth, cheek to cheek) to the canonical `MEAN_SHAPE` frame, so pose and scale are gone; the
aligned grey crop is described by uniform local-binary-pattern histograms over a grid at
three radii (texture: skin, brows, eyes, nose and mouth shapes), whitened by a PCA fitted
on the 300-W training faces (`face_match_fit.py`; whitening keeps the directions in which
faces differ and shrinks those every face shares, the classic LBP + WPCA of face
verification), plus the median skin chroma (Lab a*, b*). Two descriptors are compared by
`descriptor_distance`; at most `MATCH_THRESHOLD` apart they count as the same person. The
landmarks' own identity shape (`filters/shape.py`) was measured too and separated people
no better than chance on photos, so it is not used (docs/SWAP.md).

`FaceMatchStage` sits between the landmark stage and the swap stage. Per face track it
averages the descriptors of the track's first `DECIDE_FRAMES` frames, decides once, and
keeps the decision for the track's life; it removes the faces that do not match from
`frame.faces`, so later stages (the swap, the overlay) only see the matching ones. A face
that leaves and comes back gets a new track id from the engine and is decided again from
its own frames. Frames are held until every face in them is decided (a buffering stage,
docs/ARCHITECTURE.md), so a face is never swapped for a few frames and then dropped.

Example:
    >>> stage = FaceMatchStage(reference_descriptor("me.jpg", landmark_fn))  # doctest: +SKIP
    >>> released = stage.process(frame)  # frames whose faces are all decided  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from safetensors.numpy import load_file

from facestream.filters.enroll import LandmarkFn, SourceFaceError, enroll_source
from facestream.filters.shape import fit_similarity
from facestream.models.landmarks import IBUG68, MEAN_SHAPE

log = logging.getLogger(__name__)

# At most this distance apart two faces count as the same person. Chosen on the
# talking-head clips of ../shared/data (bench/face_match.py, figures in docs/SWAP.md).
MATCH_THRESHOLD = 1.2
# A track is decided on the mean descriptor of its first frames: one frame may blink,
# blur or turn away; more frames add latency to the whole stream while a face is new.
DECIDE_FRAMES = 5

ALIGNED_SIZE = 80  # px, side of the aligned grey face crop
# The crop's square in MEAN_SHAPE units (x from the left jaw, y from the forehead top):
# brows to below the lower lip, cheek to cheek, so hair and background stay out.
_CROP_ORIGIN = np.array([0.15, 0.14], np.float32)
_CROP_SIDE = 0.72
# Aligned on the iBUG-68 points: the 300-W faces the whitening is fitted on have only those.
_REFERENCE = ((MEAN_SHAPE[list(IBUG68)] - _CROP_ORIGIN) * (ALIGNED_SIZE / _CROP_SIDE)).astype(
    np.float32
)
# (radius in px, grid cells per side) of each LBP histogram set.
_LBP_SCALES = ((1.0, 5), (2.0, 5), (3.0, 4))
# Lab chroma is scaled so that its distance weighs about as much as the texture's: a
# different skin tone or lighting moves the median a* b* by tens of units.
_CHROMA_SCALE = 1.0 / 20.0
WHITENING_PATH = Path(__file__).with_name("face_match_whitening.safetensors")


def _uniform_lut() -> np.ndarray:
    """8-bit LBP code -> bin: one bin per uniform pattern (at most two 0/1 transitions
    around the circle, 58 of them), one shared bin for all the others."""
    lut = np.full(256, 58, np.int64)
    uniform = [c for c in range(256) if bin(c ^ ((c >> 1) | ((c & 1) << 7))).count("1") <= 2]
    lut[uniform] = np.arange(len(uniform))
    return lut


_LUT = _uniform_lut()
_BINS = 59


@dataclass(frozen=True)
class FaceDescriptor:
    """What a face looks like, pose removed.

    Attributes:
        texture: float32 unit vector: square-rooted LBP histograms, whitened.
        chroma: float32 `(2,)` median Lab a*, b* of the central face, scaled.
    """

    texture: np.ndarray
    chroma: np.ndarray


def aligned_face(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The inner face as an `ALIGNED_SIZE` square RGB crop, similarity-aligned to
    `MEAN_SHAPE` by its iBUG-68 landmarks `points` `(68, 2)`."""
    # Only the face box (and a margin) is read: resizing a whole 1080p frame took 25 ms.
    h, w = image.shape[:2]
    lo, hi = points.min(axis=0), points.max(axis=0)
    x0, y0 = np.maximum(np.floor(lo - 0.1 * (hi - lo)), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi + 0.1 * (hi - lo)) + 1, (w, h)).astype(int)
    image = image[y0:y1, x0:x1]
    points = points - (x0, y0)
    pose = fit_similarity(points, _REFERENCE)
    if pose.scale > 1.5 and image.size:
        # A large face: shrink first (area filter) so the bilinear warp does not alias.
        size = (
            max(round(image.shape[1] / pose.scale), 1),
            max(round(image.shape[0] / pose.scale), 1),
        )
        sx, sy = size[0] / image.shape[1], size[1] / image.shape[0]
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        points = (points + 0.5) * (sx, sy) - 0.5  # pixel centres move with the area filter
        pose = fit_similarity(points, _REFERENCE)
    crop_to_image = np.hstack([pose.scale * pose.rotation, pose.translation[:, None]])
    return cv2.warpAffine(
        image,
        crop_to_image,
        (ALIGNED_SIZE, ALIGNED_SIZE),
        flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def lbp_histograms(grey: np.ndarray, radius: float, cells: int) -> np.ndarray:
    """Square roots of the normalised uniform-LBP histograms (8 neighbours at `radius`,
    bilinear) of `cells` x `cells` grid cells, concatenated."""
    centre = grey.astype(np.float32)
    code = np.zeros(grey.shape, np.int64)
    for bit in range(8):
        angle = 2 * np.pi * bit / 8
        shift = np.array(
            [[1, 0, radius * np.cos(angle)], [0, 1, -radius * np.sin(angle)]], np.float32
        )
        neighbour = cv2.warpAffine(
            centre,
            shift,
            (grey.shape[1], grey.shape[0]),
            flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        code |= (neighbour >= centre).astype(np.int64) << bit
    size = grey.shape[0]
    cell = np.minimum(np.arange(size) * cells // size, cells - 1)
    index = (cell[:, None] * cells + cell[None, :]) * _BINS + _LUT[code]
    hist = np.bincount(index.ravel(), minlength=cells * cells * _BINS).reshape(-1, _BINS)
    # Square roots of frequencies: Euclidean distance becomes the Hellinger distance, which
    # does not let a few crowded bins dominate.
    return np.sqrt(hist / hist.sum(axis=1, keepdims=True)).ravel()


def lbp_texture(grey: np.ndarray) -> np.ndarray:
    """The LBP histograms of an aligned grey face at every scale, as one unit vector."""
    texture = np.concatenate([lbp_histograms(grey, r, n) for r, n in _LBP_SCALES])
    return (texture / np.linalg.norm(texture)).astype(np.float32)


@cache
def _whitening() -> tuple[np.ndarray, np.ndarray]:
    """The shipped whitening (mean `(D,)`, projection `(K, D)`), loaded strictly."""
    tensors = load_file(WHITENING_PATH)
    if set(tensors) != {"mean", "projection"}:
        raise ValueError(f"{WHITENING_PATH} holds {sorted(tensors)}, not mean and projection")
    mean, projection = tensors["mean"], tensors["projection"]
    if mean.shape != (projection.shape[1],):
        raise ValueError(f"{WHITENING_PATH}: mean {mean.shape} and projection do not fit")
    return mean.astype(np.float32), projection.astype(np.float32)


def whiten(texture: np.ndarray) -> np.ndarray:
    """`lbp_texture` in the whitened PCA space of faces, as a unit vector."""
    mean, projection = _whitening()
    # einsum, not `@`: OpenBLAS's threaded matrix-vector product took 15 ms instead of
    # 0.3 ms on a busy 2-core machine, waiting for its threads.
    out = np.einsum("kd,d->k", projection, texture - mean)
    return (out / np.linalg.norm(out)).astype(np.float32)


def face_descriptor(image: np.ndarray, points: np.ndarray) -> FaceDescriptor:
    """Describe the face with landmarks `points` `(128, 2)` in the RGB `image`.

    Example:
        >>> from skimage.data import astronaut  # doctest: +SKIP
        >>> face_descriptor(astronaut(), points).texture.shape  # doctest: +SKIP
        (128,)
    """
    face = aligned_face(image, np.asarray(points, np.float32)[list(IBUG68)])
    texture = whiten(lbp_texture(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)))
    # Central cheeks, nose and mouth: skin, little hair or eye white.
    q = ALIGNED_SIZE // 4
    centre = cv2.cvtColor(face[q : 3 * q, q // 2 : ALIGNED_SIZE - q // 2], cv2.COLOR_RGB2LAB)
    chroma = np.median(centre.reshape(-1, 3)[:, 1:], axis=0) * _CHROMA_SCALE
    return FaceDescriptor(texture, chroma.astype(np.float32))


def mean_descriptor(descriptors: list[FaceDescriptor]) -> FaceDescriptor:
    """The mean of several descriptors of one face (texture re-normalised)."""
    texture = np.mean([d.texture for d in descriptors], axis=0)
    chroma = np.mean([d.chroma for d in descriptors], axis=0)
    return FaceDescriptor(
        (texture / np.linalg.norm(texture)).astype(np.float32), chroma.astype(np.float32)
    )


def descriptor_distance(a: FaceDescriptor, b: FaceDescriptor) -> float:
    """Texture distance plus chroma distance; same person below `MATCH_THRESHOLD`."""
    return float(np.linalg.norm(a.texture - b.texture) + np.linalg.norm(a.chroma - b.chroma))


def reference_descriptor(path: Path | str, landmark_fn: LandmarkFn) -> FaceDescriptor:
    """The descriptor of the single face in the reference photo `path`.

    The photo must pass the same checks as a swap's source photo (`filters/enroll.py`): one
    face, large enough, roughly frontal.

    Raises:
        SourceFaceError: one sentence saying why the photo cannot be used.
    """
    try:
        face = enroll_source(path, landmark_fn)
    except SourceFaceError as err:
        # enroll.py's sentences name the photo a "source photo"; here it is the reference.
        raise SourceFaceError(str(err).replace("source photo", "reference photo")) from None
    return face_descriptor(face.image, face.points)


@dataclass
class _Track:
    seen: list[FaceDescriptor] = field(default_factory=list)
    match: bool | None = None  # None while undecided


class FaceMatchStage:
    """Pipeline stage: keeps in `frame.faces` only the faces like the reference.

    A buffering stage (docs/ARCHITECTURE.md): `process` returns the frames whose faces are
    all decided, oldest first, and `flush` the rest at the end of the stream.

    Args:
        reference: the descriptor of the face to keep (`reference_descriptor`).
        threshold: the largest `descriptor_distance` that counts as a match.
        decide_frames: frames of a track averaged before its decision.
        describe: `(image, points) -> FaceDescriptor` (tests may pass their own).
    """

    def __init__(
        self,
        reference: FaceDescriptor,
        threshold: float = MATCH_THRESHOLD,
        decide_frames: int = DECIDE_FRAMES,
        describe: Callable[[np.ndarray, np.ndarray], FaceDescriptor] = face_descriptor,
    ) -> None:
        self.reference = reference
        self.threshold = threshold
        self.decide_frames = decide_frames
        self.describe = describe
        self.reset()

    def reset(self) -> None:
        """Forget every track and drop the frames held (a new stream starts)."""
        self._tracks: dict[int, _Track] = {}
        self._held: deque[Any] = deque()

    def process(self, frame: Any) -> list[Any]:
        """Take one frame (`facestream.stream.frames.Frame`); return those now decided."""
        present = {face.track_id for face in frame.faces}
        for track_id, track in self._tracks.items():
            if track_id not in present and track.match is None:
                # The engine never reuses an id, so the track has ended: decide on what it
                # showed, so the frames holding it can go.
                self._decide(track_id, track)
        for face in frame.faces:
            track = self._tracks.setdefault(face.track_id, _Track())
            if track.match is None:
                # Only looks: read_image leaves the decoded frame as the frame's pixels.
                track.seen.append(self.describe(frame.read_image(), np.asarray(face.points)))
                if len(track.seen) >= self.decide_frames:
                    self._decide(face.track_id, track)
        self._held.append(frame)
        return self._release(present)

    def flush(self) -> list[Any]:
        """Decide every open track on the frames it has and release all frames held."""
        for track_id, track in self._tracks.items():
            if track.match is None:
                self._decide(track_id, track)
        return self._release(set())

    def _decide(self, track_id: int, track: _Track) -> None:
        distance = descriptor_distance(mean_descriptor(track.seen), self.reference)
        track.match = distance <= self.threshold
        track.seen = []
        log.info(
            "face track %d %s the --only-like reference (distance %.3f, threshold %.3f)",
            track_id,
            "matches" if track.match else "does not match",
            distance,
            self.threshold,
        )

    def _release(self, present: set[int]) -> list[Any]:
        out = []
        while self._held and all(
            self._tracks[face.track_id].match is not None for face in self._held[0].faces
        ):
            frame = self._held.popleft()
            frame.faces = [face for face in frame.faces if self._tracks[face.track_id].match]
            out.append(frame)
        # Keep the tracks still on screen or still in a held frame; the rest have ended.
        needed = present | {face.track_id for held in self._held for face in held.faces}
        self._tracks = {i: t for i, t in self._tracks.items() if i in needed}
        return out
