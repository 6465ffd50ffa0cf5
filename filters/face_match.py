"""Swap only the faces that look like a reference photo (`facestream swap --only-like`).

A face is described by dlib's face-recognition ResNet (`models/face_descriptor.py`, weights
converted from dlib's public-domain model): a 128-d descriptor of a 150 x 150 RGB chip. The
chip is cut from the frame by the similarity that takes five of our landmarks (the eye
corners and the base of the nose, `CHIP_POINTS`) onto `CHIP_TEMPLATE`, where those points lie
in dlib's own chips on average (measured, bench/face_descriptor_vs_dlib.py), so the network
sees faces framed as it was trained. Two descriptors at most `MATCH_THRESHOLD` apart
(Euclidean) are the same person.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from facestream.filters.enroll import LandmarkFn, read_rgb, single_face
from facestream.filters.shape import fit_similarity
from facestream.models.face_descriptor import CHIP_SIZE, load_descriptor_net

log = logging.getLogger(__name__)

# At most this distance apart two descriptors are the same person. dlib's own threshold is
# 0.6; on the talking-head clips (bench/face_match.py, docs/SWAP.md) 0.55 still matched every
# same-person pair and halved the false matches (75 -> 39 of 1592 pairs, 37 of them among
# eight different East Asian people, whom this network places close; dlib itself: 67 -> 35).
MATCH_THRESHOLD = 0.55
# The reference face's least size. obama.jpg shrunk step by step (105 px between the eyes)
# stays within 0.10 of its full-size descriptor down to 26 px, 0.18 at 19, 0.30 at 14.
MIN_REFERENCE_EYES = 24.0
# A track is decided on the mean descriptor of its first frames: one frame may blink,
# blur or turn away; more frames add latency to the whole stream while a face is new.
DECIDE_FRAMES = 5

# Our landmarks (iBUG-68 numbering) at dlib's five: eye corners, then the nose base.
CHIP_POINTS = np.array([36, 39, 42, 45, 33], np.int64)
# Where CHIP_POINTS lie in dlib's 150 px chips: our landmarks mapped into dlib's own chips
# (its 5-point landmarks, padding 0.25) and averaged over 135 faces of ../shared/data
# (bench/face_descriptor_vs_dlib.py prints it). Fitted on these 5 points, descriptors from
# our chips sat a median 0.08 from dlib's own (held out); on more of our points, 0.09-0.12.
CHIP_TEMPLATE = np.array(
    [[36.48, 46.62], [58.19, 47.83], [89.22, 47.88], [111.22, 46.51], [73.42, 87.45]],
    np.float32,
)


def face_chip(
    image: np.ndarray, points: np.ndarray, reference: np.ndarray | None = None
) -> np.ndarray:
    """The `CHIP_SIZE` square RGB chip of a face, similarity-aligned.

    Args:
        image: the RGB frame.
        points: the face's 128 landmarks, or the points matching `reference`.
        reference: where `points` go in the chip; by default `CHIP_TEMPLATE` for the
            `CHIP_POINTS` of 128 landmarks.
    """
    points = np.asarray(points, np.float32)
    if reference is None:
        points, reference = points[CHIP_POINTS], CHIP_TEMPLATE
    pose = fit_similarity(points, reference)
    # Only the chip's footprint in the frame is read: resizing a whole 1080p frame took 25 ms.
    corners = np.array([[0, 0], [1, 0], [0, 1], [1, 1]]) * (CHIP_SIZE - 1)
    footprint = pose.scale * corners @ pose.rotation.T + pose.translation
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(footprint.min(axis=0)) - 1, 0, (w, h)).astype(int)
    x1, y1 = np.clip(np.ceil(footprint.max(axis=0)) + 2, 0, (w, h)).astype(int)
    image, points = image[y0:y1, x0:x1], points - (x0, y0)
    if pose.scale > 1.5 and image.size:
        # A large face: shrink first (area filter) so the bilinear warp does not alias.
        size = (
            max(round(image.shape[1] / pose.scale), 1),
            max(round(image.shape[0] / pose.scale), 1),
        )
        sx, sy = size[0] / image.shape[1], size[1] / image.shape[0]
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        points = (points + 0.5) * (sx, sy) - 0.5  # pixel centres move with the area filter
    pose = fit_similarity(points, reference)
    chip_to_image = np.hstack([pose.scale * pose.rotation, pose.translation[:, None]])
    # Black outside the frame, as in dlib's chips.
    return cv2.warpAffine(
        image,
        chip_to_image,
        (CHIP_SIZE, CHIP_SIZE),
        flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )


def describe_faces(
    image: np.ndarray, faces_points: Sequence[np.ndarray], device: str = "cpu"
) -> np.ndarray:
    """The `(N, 128)` float32 descriptors of the faces with 128 landmarks each in `image`,
    in one batch through the network on `device` ("cpu" or "cuda").

    Example:
        >>> from skimage.data import astronaut  # doctest: +SKIP
        >>> describe_faces(astronaut(), [points]).shape  # doctest: +SKIP
        (1, 128)
    """
    if not len(faces_points):
        return np.zeros((0, 128), np.float32)
    chips = np.stack([face_chip(image, p) for p in faces_points])
    with torch.inference_mode():
        net = load_descriptor_net(device=device)
        return net(torch.from_numpy(chips).to(device)).cpu().numpy()


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance; the same person at most `MATCH_THRESHOLD` apart."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def reference_descriptor(path: Path | str, landmark_fn: LandmarkFn) -> np.ndarray:
    """The `(128,)` descriptor of the single face in the reference photo `path`.

    The photo needs one face, roughly frontal (as a swap's source, `filters/enroll.py`), and
    at least `MIN_REFERENCE_EYES` px between the eyes: far less than a source needs, since
    nothing of it is drawn.

    Raises:
        SourceFaceError: one sentence saying why the photo cannot be used.
    """
    image = read_rgb(Path(path), "reference photo")
    points = single_face(path, image, landmark_fn, "reference photo", MIN_REFERENCE_EYES)
    return describe_faces(image, [points])[0]


@dataclass
class _Track:
    seen: list[np.ndarray] = field(default_factory=list)
    match: bool | None = None  # None while undecided


class FaceMatchStage:
    """Pipeline stage: keeps in `frame.faces` only the faces like the reference.

    A buffering stage (docs/ARCHITECTURE.md): `process` returns the frames whose faces are
    all decided, oldest first, and `flush` the rest at the end of the stream.

    Args:
        reference: the descriptor of the face to keep (`reference_descriptor`).
        threshold: the largest `descriptor_distance` that counts as a match.
        decide_frames: frames of a track averaged before its decision.
        describe: `(image, [points, ...]) -> (N, 128)` descriptors, one batch per frame
            (`describe_faces`; tests may pass their own).
    """

    def __init__(
        self,
        reference: np.ndarray,
        threshold: float = MATCH_THRESHOLD,
        decide_frames: int = DECIDE_FRAMES,
        describe: Callable[[np.ndarray, list[np.ndarray]], np.ndarray] = describe_faces,
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
        undecided = [
            face
            for face in frame.faces
            if self._tracks.setdefault(face.track_id, _Track()).match is None
        ]
        if undecided:
            # Only looks: read_image leaves the decoded frame as the frame's pixels.
            points = [np.asarray(face.points) for face in undecided]
            for face, descriptor in zip(
                undecided, self.describe(frame.read_image(), points), strict=True
            ):
                track = self._tracks[face.track_id]
                track.seen.append(descriptor)
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
        distance = descriptor_distance(np.mean(track.seen, axis=0), self.reference)
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
