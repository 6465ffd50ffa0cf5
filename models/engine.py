"""The batched landmark engine: crops, HRNet-128, decoding, tracking, devices.

`LandmarkEngine` turns a frame (RGB ``uint8`` ``(H, W, 3)``) and face detections or previous
landmarks into `FaceLandmarks` (128 points in frame pixels, per-point confidence, a box and
a track id). All faces of a frame run through the model as one batch:

1. one rotation-normalised crop per face (`facestream.models.crops`: eye line horizontal,
   scale from the face size), cut with OpenCV on the CPU or with one batched ``grid_sample``
   on the GPU;
2. HRNet-128 on the batch (TorchScript-frozen on the CPU; fp16 and channels-last on CUDA);
3. `decode_heatmaps` maps the peaks straight back to frame pixels through the crop affines.

Tracking (`LandmarkEngine.track`): the detector runs on the first frame, every
``detect_every`` frames, and when a face's confidence falls; in between, each face's crop
comes from its own last landmarks, moved on by the face's recent frame-to-frame motion
(constant velocity, beyond a dead zone for landmark noise), so that a fast head stays in
the middle of its crop. A tracked face whose mean
confidence falls (below ``min_confidence``, or below ``confidence_drop`` times its own
running level) is looked for again on the same frame: the detector runs, the detection over
the face's expected place is cut and run at once, and the face keeps its track id if that
crop holds it; otherwise it is dropped (lost). Detections that overlap no tracked face
start new tracks; track ids are stable while a face stays. A shot cut
(`facestream.models.shot_cuts`) ends every track: the faces of the new shot are detected
and get new ids, even where one sits where a face of the old shot was. On large frames (a
long side of 1600 px or more) each whole-frame detection is followed by the detector on
the frame's tiles (`facestream.models.detector.frame_tiles`), one tile a frame on the frames
after it, for faces too small for the whole frame's 192 px pass (``detect_tiles``).

A second look (``verify``, `facestream.models.face_check`): landmarks that leave the face
stay off it (each crop is cut from the last landmarks, and the model draws a face-sized
shape in any crop: on hair, a pillar, the back of a head or a profile, at a confidence a
real face in a crowd also has). So every ``check_every`` frames, and when it starts, each
face's crop goes through the short-range BlazeFace. A detection there whose eyes are not
where the landmarks put them re-seeds the face from the detection's crop on the same frame
(trusted only if its landmarks then stay on the face until the next check). A face the
detector does not see is not *trusted* (`FaceLandmarks.trust` 0), nor one it sees
elsewhere, in profile, or frontal with its nose or mouth off the landmarks' (``askew``:
a head bowed far down, whose landmarks follow the bow only part of the way; a trusted face
at the second such check in a row: it is checked again on the next frame, and a glitch
passes); a later check that confirms the face trusts it again. One it does not see in
`DROP_AFTER_MISSES` checks in a row is dropped.

Devices: ``"cpu"``, ``"cuda"`` (fp16 by default, channels-last, pinned host buffers,
non-blocking copies, `LandmarkEngine.run_batches` overlaps the copies and the model over
several CUDA streams) and ``"mps"`` (fp32). Threads are explicit: the engine sets torch's
intra-op threads to ``num_threads`` (default 1, leaving the second core of a 2-core machine
to decoding and encoding; on a busy 2-core machine two torch threads were several times
slower than one in our measurements, see docs/BENCHMARKS.md).

Example:
    >>> import numpy as np
    >>> from facestream.models.engine import LandmarkEngine
    >>> from facestream.models.landmarks import MEAN_SHAPE
    >>> engine = LandmarkEngine("hrnet128_lite", weights=None)  # random weights
    >>> frame = np.zeros((240, 320, 3), np.uint8)
    >>> faces = engine.predict(frame, [MEAN_SHAPE * 150 + 60])
    >>> faces[0].points.shape, faces[0].confidence.shape
    ((128, 2), (128,))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from facestream.models.crops import (
    crop_from_keypoints,
    crop_from_landmarks,
    cut_crops,
    landmark_anchors,
)
from facestream.models.detector import box_iou, detect_in_tile, frame_tiles
from facestream.models.face_check import FaceCheck, Verdict, agrees
from facestream.models.heatmaps import TARGET_SIGMA, decode_heatmaps
from facestream.models.hrnet import HRNet, HRNetConfig, create_model, weights_path
from facestream.models.shot_cuts import ShotCuts
from facestream.models.torchscript import freeze_for_cpu


@dataclass
class FaceLandmarks:
    """One face's landmarks in frame pixels.

    Attributes:
        track_id: stable id while the face is tracked (-1 from `LandmarkEngine.predict`).
        points: float32 ``(128, 2)``, x y in frame pixels (pixel centres at integers).
        confidence: float32 ``(128,)`` in [0, 1], from the heatmap peaks.
        box: float32 ``(4,)`` x0 y0 x1 y1, the bounding box of the 128 points.
        trust: 1 when the engine's second look (``verify``) saw a face, not in profile,
            where the landmarks are (nose and mouth too); 0 when it did not (the swap fades
            such a face out).
            Always 1 without the second look.
    """

    track_id: int
    points: np.ndarray
    confidence: np.ndarray
    box: np.ndarray
    trust: float = 1.0


def points_box(points: np.ndarray) -> np.ndarray:
    """Bounding box ``(..., 4)`` x0 y0 x1 y1 of points ``(..., K, 2)``."""
    return np.concatenate([points.min(-2), points.max(-2)], -1).astype(np.float32)


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA if present, else MPS if present, else CPU."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def crop_affines_to_grid_theta(
    crop_to_frame: torch.Tensor, frame_height: int, frame_width: int
) -> torch.Tensor:
    """``affine_grid`` thetas ``(N, 2, 3)`` (align_corners=False) for crop affines.

    ``affine_grid`` maps output coordinates g in [-1, 1] to input coordinates in [-1, 1];
    our affines map normalised crop coordinates u = (g + 1) / 2 to frame pixels x, and
    pixel centres sit at (2x + 1) / W - 1 in the input's [-1, 1].
    """
    a = crop_to_frame.to(torch.float32)
    size = torch.tensor([frame_width, frame_height], dtype=a.dtype, device=a.device)
    linear = a[:, :, :2] / size[None, :, None]  # d(input)/d(g) = A / W (u = (g + 1) / 2)
    shift = (2 * (a[:, :, :2].sum(-1) / 2 + a[:, :, 2]) + 1) / size - 1
    return torch.cat([linear, shift[:, :, None]], dim=2)


def cut_crops_torch(frame: torch.Tensor, crop_to_frame: torch.Tensor, size: int) -> torch.Tensor:
    """Crops ``(N, 3, size, size)`` float in [0, 1] from a ``(3, H, W)`` uint8/float frame
    tensor on any device, by one batched bilinear ``grid_sample`` (zeros outside)."""
    _, h, w = frame.shape
    theta = crop_affines_to_grid_theta(crop_to_frame.to(frame.device), h, w)
    n = theta.shape[0]
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    src = frame.unsqueeze(0).float().div(255) if frame.dtype == torch.uint8 else frame[None]
    return F.grid_sample(src.expand(n, -1, -1, -1), grid, align_corners=False)


@dataclass
class _Track:
    track_id: int
    points: np.ndarray
    level: float  # running mean confidence: what "falls" is measured against
    velocity: np.ndarray | None = None  # (2,) pixels per frame, None until two frames
    # The second look (`LandmarkEngine` ``verify``): the frame of the last check (None
    # before the first), whether the face is trusted, and the checks in a row that did not
    # confirm it / that found no face at all.
    checked: int | None = None
    trusted: bool = False
    doubts: int = 0
    misses: int = 0

    def expected(self, predict_motion: bool) -> np.ndarray:
        """Where the face should be on the next frame: moved on by its velocity, less a
        dead zone of `MOTION_DEAD_ZONE` eye distances. Landmark noise moves a still face
        by about that much, and predicting it would feed it back into the crop (measured
        in docs/BENCHMARKS.md, "Tracking fast heads")."""
        if not predict_motion or self.velocity is None or self.level < MOTION_MIN_CONFIDENCE:
            return self.points
        anchors = landmark_anchors(self.points)
        dead_zone = MOTION_DEAD_ZONE * float(np.linalg.norm(anchors[1] - anchors[0]))
        speed = float(np.linalg.norm(self.velocity))
        if speed <= dead_zone:
            return self.points
        return (self.points + self.velocity * (1.0 - dead_zone / speed)).astype(np.float32)

    def update(self, points: np.ndarray, confidence: float) -> None:
        """Take this frame's landmarks (also when they came from a re-detection: the
        last points were the face too, so the move between them is its motion)."""
        step = (points - self.points).mean(0)
        if self.velocity is None:
            self.velocity = step
        else:
            self.velocity += VELOCITY_RATE * (step - self.velocity)
        self.points = points
        self.level += LEVEL_RATE * (confidence - self.level)

    def reseed(self, points: np.ndarray) -> None:
        """Take landmarks found from a detection instead of this frame's own: the move
        to them is a correction, not the face's motion."""
        self.points = points
        self.velocity = None

    def next_check(self, every: int) -> int:
        """Frames from the last check to the next: `every`, but a trusted face whose last
        check failed is looked at again on the next frame (a glitch passes at once, a face
        that left its landmarks is caught a check period sooner)."""
        return 1 if self.trusted and self.doubts else every

    def judge(self, confirmed: bool, found: bool, frame_index: int) -> None:
        """Fold one check into the track's trust: a confirmation trusts it; a check that
        finds no face at all takes it away; one that finds the face off the landmarks or
        in profile takes it from a trusted face at the second in a row (a blurred or
        turning frame), from a new one at the first."""
        self.checked = frame_index
        if confirmed:
            self.trusted, self.doubts, self.misses = True, 0, 0
            return
        self.doubts += 1
        self.misses = self.misses + 1 if not found else 0
        self.trusted = self.trusted and found and self.doubts < 2


LEVEL_RATE = 0.1
"""Weight of each frame in a track's running confidence level (about a 10-frame memory)."""

VELOCITY_RATE = 0.5
"""Weight of the last frame's move in a track's velocity: half the last step, half the
earlier velocity, so that one noisy step (or a repeated frame) moves the crop less."""

MOTION_MIN_CONFIDENCE = 0.3
"""A face's motion is predicted only while its running confidence is at least this: weaker
peaks do not hold the face, and moving the crop on by their drift feeds it back (random
weights then run away across the frame)."""

MOTION_DEAD_ZONE = 0.04
"""Per-frame face motion below this many eye distances (eye centre to eye centre) is not
predicted."""

TILE_MIN_EYES = 30.0
"""A face found in a tile (`LandmarkEngine` ``detect_tiles``) starts a track only when its
outer eye corners are at least this many pixels apart: a smaller face swaps as a smear
(seen on a 1080p crowd: at 28-29 px the swap was a blur with the source's lips, at 33-34 px
a face), and the whole frame's pass, which these tiles add to, finds none that small."""

DROP_AFTER_MISSES = 2
"""A face the second look does not see in this many checks in a row is dropped (lost)."""


class LandmarkEngine:
    """Batched HRNet-128 landmarks for every face of a frame, with tracking.

    Args:
        model: a variant name (``"hrnet128_lite"``, ``"hrnet128_w18"``) or a built model
            (an `HRNet`, or any module with its ``config``).
        weights: ``"default"`` (the shipped file), None (random init, for tests) or a path;
            ignored when ``model`` is already built.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        dtype: model dtype; default fp16 on CUDA, fp32 elsewhere.
        detector: callable frame -> detections (objects with ``box (4,)``,
            ``keypoints (6, 2)`` and ``score``), e.g. ``FaceDetector("short").detect`` from
            `facestream.models.detector`; created on first use (BlazeFace full range, short
            range on frames where it finds nothing: ``AnyRangeDetector``) when None and
            `track` needs it.
        detect_every: run the detector every this many frames while tracking.
        min_confidence: a face whose mean confidence is below this is not a face; 0 keeps
            every tracked face (e.g. with random weights) and looks for none again.
        max_faces: at most this many faces are tracked (best detection scores first).
        num_threads: torch intra-op threads on the CPU (set globally, as torch does).
        jit: trace and freeze the model with TorchScript on the CPU (about 2x faster for
            these small convolutions in our measurements).
        num_streams: CUDA streams used by `run_batches`.
        confidence_drop: a tracked face whose mean confidence falls below this fraction of
            its running level is looked for again on the same frame (``recover``).
        predict_motion: move each face's crop on by its recent per-frame motion (when
            larger than landmark noise); False crops at the last landmarks (the tracker
            before fast-head tracking).
        recover: when a tracked face's confidence falls, run the detector and the face's
            re-detected crop on the same frame; False drops it when below
            ``min_confidence`` and runs the detector on the next frame (the old tracker).
        decode_blur: Gaussian width (heatmap cells) the heatmaps are blurred by before the
            sub-pixel step (`decode_heatmaps`); 0 decodes them as they are.
        verify: the second look at each tracked face (`facestream.models.face_check`):
            True, False, or None for on with trained weights loaded by variant name and a
            positive ``min_confidence`` (a built model or random weights track as before);
            or the check itself, a callable ``(frame, points (N, 128, 2)) -> [Verdict]``.
        check_every: the second look runs on each face every this many frames (and on
            the frame it starts): 7 keeps its cost near 0.5 ms a face a frame on the CPU.
        detect_tiles: on large frames (`facestream.models.detector.frame_tiles`: a long
            side of 1600 px or more), each detection on the whole frame is followed by
            one on each tile of the frame, one tile a frame on the frames after it, so
            that faces too small for the whole frame's pass are found too and no frame
            pays for more than one detector call.
    """

    def __init__(
        self,
        model: str | HRNet = "hrnet128_lite",
        weights: str | Path | None = "default",
        device: str | torch.device = "auto",
        dtype: torch.dtype | None = None,
        detector: Callable[[np.ndarray], Sequence[object]] | None = None,
        detect_every: int = 30,
        min_confidence: float = 0.3,
        max_faces: int = 8,
        num_threads: int = 1,
        jit: bool = True,
        num_streams: int = 2,
        confidence_drop: float = 0.75,
        predict_motion: bool = True,
        recover: bool = True,
        decode_blur: float = TARGET_SIGMA,
        verify: bool | Callable[[np.ndarray, np.ndarray], list[Verdict]] | None = None,
        check_every: int = 7,
        detect_tiles: bool = True,
    ) -> None:
        self.device = pick_device(device)
        if self.device.type == "cpu":
            torch.set_num_threads(num_threads)
        if dtype is None:
            dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.dtype = dtype
        file = _weights_file(model, weights)
        self.net: Callable[[torch.Tensor], torch.Tensor]
        if jit and self.device.type == "cpu" and dtype == torch.float32 and file is not None:
            # One frozen model per weights file, shared by every engine of the process (each
            # live call has its own engine); frozen TorchScript modules hold no state.
            stat = file.stat()
            self.config, self.net = _frozen_model(str(model), str(file), stat.st_mtime_ns)
        else:
            net = create_model(model, weights) if isinstance(model, str) else model
            self.config = net.config
            net = net.eval().to(self.device, dtype)
            if self.device.type == "cuda":
                net = net.to(memory_format=torch.channels_last)
            self.net = net
            if jit and self.device.type == "cpu" and isinstance(net, HRNet):
                self.net = _freeze(net, net.config.input_size)
        self.size = self.config.input_size
        self._detector = detector
        self._tile_detector = detector
        self.detect_every = detect_every
        self.min_confidence = min_confidence
        self.max_faces = max_faces
        self.num_streams = num_streams
        self.confidence_drop = confidence_drop
        self.predict_motion = predict_motion
        self.recover = recover
        self.decode_blur = decode_blur
        if verify is None:
            verify = file is not None and min_confidence > 0
        self.verify = bool(verify)
        self.check_every = check_every
        self.detect_tiles = detect_tiles
        self._tiles_due: list[tuple[int, int, int]] = []
        self._face_check = verify if callable(verify) else None
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frame_index = 0
        self._last_detect = -(10**9)
        self._force_detect = True
        self._cuts = ShotCuts()
        self._pinned: torch.Tensor | None = None

    # ------------------------------------------------------------------ stateless API

    def predict(
        self, frame: np.ndarray, faces: Sequence[object] | np.ndarray
    ) -> list[FaceLandmarks]:
        """Landmarks of the given faces in one batch (no tracking; track ids are -1).

        Args:
            frame: RGB ``uint8`` ``(H, W, 3)``.
            faces: detections (objects with ``keypoints`` ``(6, 2)``) or landmark arrays
                ``(128, 2)`` / ``(68, 2)`` (e.g. the previous frame's), or an array
                ``(N, 128|68, 2)``.
        """
        affines = self.crop_affines(faces)
        points, conf = self.infer(frame, affines)
        return [FaceLandmarks(-1, p, c, points_box(p)) for p, c in zip(points, conf, strict=True)]

    @staticmethod
    def crop_affines(faces: Sequence[object] | np.ndarray) -> np.ndarray:
        """``crop_to_frame`` ``(N, 2, 3)`` for detections or landmark arrays."""
        if isinstance(faces, np.ndarray) and faces.ndim == 3:
            return crop_from_landmarks(faces)
        rows = []
        for face in faces:
            keypoints = getattr(face, "keypoints", None)
            if keypoints is not None:
                rows.append(crop_from_keypoints(np.asarray(keypoints)[None])[0])
            else:
                rows.append(crop_from_landmarks(np.asarray(face)[None])[0])
        return np.stack(rows) if rows else np.zeros((0, 2, 3), np.float32)

    @torch.inference_mode()
    def infer(self, frame: np.ndarray, crop_to_frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points ``(N, 128, 2)`` float32 in frame pixels and confidence ``(N, 128)`` for
        the crops ``crop_to_frame`` ``(N, 2, 3)`` of one frame, as one batch."""
        frame = _check_frame(frame)
        n = len(crop_to_frame)
        k = self.config.num_points
        if n == 0:
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        affine = torch.from_numpy(np.ascontiguousarray(crop_to_frame, dtype=np.float32))
        if self.device.type == "cpu":
            crops = cut_crops(frame, crop_to_frame, self.size)
            x = torch.from_numpy(crops).permute(0, 3, 1, 2).to(self.dtype).div_(255)
        else:
            image = self._upload(frame).permute(2, 0, 1)
            x = cut_crops_torch(image, affine.to(self.device), self.size).to(self.dtype)
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
        points, conf = decode_heatmaps(self.net(x), affine.to(self.device), self.decode_blur)
        return points.cpu().numpy(), conf.cpu().numpy()

    def _upload(self, frame: np.ndarray) -> torch.Tensor:
        """The frame on the device; on CUDA through a reused pinned host buffer and a
        non-blocking copy (safe to reuse: `infer` waits for its results before returning)."""
        if self.device.type != "cuda":
            return torch.from_numpy(frame).to(self.device)
        if self._pinned is None or self._pinned.shape != frame.shape:
            self._pinned = torch.empty(frame.shape, dtype=torch.uint8, pin_memory=True)
        self._pinned.numpy()[...] = frame
        return self._pinned.to(self.device, non_blocking=True)

    # ------------------------------------------------------------------ tracking

    def reset(self) -> None:
        """Forget all tracks; the next `track` call runs the detector."""
        self._tracks = []
        self._frame_index = 0
        self._force_detect = True
        self._tiles_due = []
        self._cuts.reset()

    def track(self, frame: np.ndarray) -> list[FaceLandmarks]:
        """Landmarks of every face in a video frame, tracked across calls.

        Example:
            >>> from skimage.data import astronaut
            >>> engine = LandmarkEngine(weights=None, min_confidence=0.0)
            >>> [f.track_id for f in engine.track(astronaut())]
            [0]
        """
        frame = _check_frame(frame)
        if self._cuts.is_cut(frame):
            self._tracks = []  # the next shot's faces are other faces: new tracks, new ids
        scheduled = (
            self._force_detect
            or (not self._tracks and not self._tiles_due)
            or self._frame_index - self._last_detect >= self.detect_every
        )
        self._force_detect = False
        detections = self._detect(frame) if scheduled else None
        faces: list[tuple[_Track, np.ndarray, np.ndarray]] = []
        if self._tracks:
            faces, detections = self._follow(frame, detections)
        min_eyes = 0.0
        if detections is None and self._tiles_due:
            # One tile of the pass that follows a whole-frame detection, on a frame where
            # the detector has not run: new faces only (recovering a face needs the whole
            # frame's detections, and the frame's one detector call is this one).
            detector = self._tile_detector
            assert detector is not None  # the whole-frame detection that queued the tiles
            detections = detect_in_tile(detector, frame, self._tiles_due.pop(0))
            min_eyes = TILE_MIN_EYES
        if detections:
            faces += self._start(frame, detections, faces, min_eyes)
        if self.verify and faces:
            faces = self._check(frame, faces)
        self._frame_index += 1
        self._tracks = [t for t, _, _ in faces]
        return [
            FaceLandmarks(t.track_id, p, c, points_box(p), float(t.trusted or not self.verify))
            for t, p, c in faces
        ]

    def _follow(
        self, frame: np.ndarray, detections: list[object] | None
    ) -> tuple[list[tuple[_Track, np.ndarray, np.ndarray]], list[object] | None]:
        """This frame's landmarks of the tracked faces that are still there, and the
        detections they did not use (None when the detector has not run)."""
        tracks = self._tracks
        expected = np.stack([t.expected(self.predict_motion) for t in tracks])
        points, conf = self.infer(frame, crop_from_landmarks(expected))
        level = conf.mean(1)
        floor = np.full(len(tracks), self.min_confidence)
        if self.recover and self.min_confidence > 0:
            floor = np.maximum(floor, [self.confidence_drop * t.level for t in tracks])
        fell = level < floor
        if self.recover and fell.any():
            # Look for the fallen faces again on this very frame: a crop cut from the
            # detection over each one's expected place, run at once.
            if detections is None:
                detections = self._detect(frame)
            claims = _claim(
                detections, points_box(expected[fell, :68]), points_box(points[~fell, :68])
            )
            rows = [int(i) for i in np.flatnonzero(fell)]
            found = [(i, d) for i, d in zip(rows, claims, strict=True) if d is not None]
            if found:
                again, again_conf = self.infer(frame, self.crop_affines([d for _, d in found]))
                for (i, _), p, c in zip(found, again, again_conf, strict=True):
                    if c.mean() > level[i]:
                        points[i], conf[i], level[i] = p, c, c.mean()
                    fell[i] = level[i] < self.min_confidence
                used = {id(d) for _, d in found}
                detections = [d for d in detections if id(d) not in used]
        faces = []
        for i, track in enumerate(tracks):
            if fell[i]:
                self._force_detect = True  # a face was lost: look again next frame
                continue
            track.update(points[i], float(level[i]))
            faces.append((track, points[i], conf[i]))
        return faces, detections

    def _start(
        self,
        frame: np.ndarray,
        detections: list[object],
        faces: list[tuple[_Track, np.ndarray, np.ndarray]],
        min_eyes: float = 0.0,
    ) -> list[tuple[_Track, np.ndarray, np.ndarray]]:
        """New tracks from the detections that overlap no face tracked on this frame (and
        whose landmarks put the outer eye corners at least ``min_eyes`` px apart)."""
        if faces:
            tracked = points_box(np.stack([p[:68] for _, p, _ in faces]))
            overlap = box_iou(_boxes(detections), tracked).max(1)
            detections = [d for d, o in zip(detections, overlap, strict=True) if o < OVERLAP]
        detections = detections[: max(0, self.max_faces - len(faces))]
        if not detections:
            return []
        points, conf = self.infer(frame, self.crop_affines(detections))
        new = []
        for p, c in zip(points, conf, strict=True):
            eyes = float(np.linalg.norm(p[36] - p[45]))  # iBUG's outer eye corners
            if float(c.mean()) >= self.min_confidence and eyes >= min_eyes:
                new.append((_Track(self._next_id, p, float(c.mean())), p, c))
                self._next_id += 1
        return new

    def _check(
        self, frame: np.ndarray, faces: list[tuple[_Track, np.ndarray, np.ndarray]]
    ) -> list[tuple[_Track, np.ndarray, np.ndarray]]:
        """The second look at the faces due for one (`FaceCheck`); returns the faces kept,
        some with landmarks re-seeded from the detection in their crop."""
        due = [
            i
            for i, (t, _, _) in enumerate(faces)
            if t.checked is None or self._frame_index - t.checked >= t.next_check(self.check_every)
        ]
        if not due:
            return faces
        if self._face_check is None:
            self._face_check = FaceCheck(self.device)
        verdicts = self._face_check(frame, np.stack([faces[i][1] for i in due]))
        # The detector sees the face elsewhere in the crop: the landmarks from its crop.
        # That earns no trust yet: only landmarks that stay on the face from their own
        # crops do (on a profile the detector's keypoints are wrong too, and the landmarks
        # put there slide back to a frontal shape beside the face).
        off = [(i, v) for i, v in zip(due, verdicts, strict=True) if v.found and not v.agrees]
        if off:
            keypoints = np.stack([v.keypoints for _, v in off])
            points, conf = self.infer(frame, crop_from_keypoints(keypoints))
            for (i, _), p, c, k in zip(off, points, conf, keypoints, strict=True):
                if agrees(p, k):
                    faces[i] = (faces[i][0], p, c)
                    faces[i][0].reseed(p)
        for i, v in zip(due, verdicts, strict=True):
            track = faces[i][0]
            # Faces found on the same frame are checked on different frames after it, so
            # that a crowd's checks do not all land on one frame.
            stagger = track.track_id % self.check_every if track.checked is None else 0
            track.judge(v.confirmed, v.found, self._frame_index - stagger)
        kept = [f for f in faces if f[0].misses < DROP_AFTER_MISSES]
        if len(kept) < len(faces):
            self._force_detect = True  # a face was lost: look again next frame
        return kept

    def _detect(self, frame: np.ndarray) -> list[object]:
        """The detector's faces on this frame, best score first."""
        if self._detector is None:
            from facestream.models.detector import AnyRangeDetector

            detector = AnyRangeDetector(device=self.device)
            # Tiles go to the full range alone: its short-range fallback is for a face
            # that fills the image, which on a tile the whole frame's pass finds, and on
            # the empty tiles of a crowd it ran for nothing and found noise.
            self._detector, self._tile_detector = detector.detect, detector.full.detect
        self._last_detect = self._frame_index
        if self.detect_tiles:
            self._tiles_due = frame_tiles(*frame.shape[:2])
        return sorted(self._detector(frame), key=lambda d: -float(d.score))

    # ------------------------------------------------------------------ CUDA pipeline

    def run_batches(
        self, batches: Iterable[tuple[np.ndarray, np.ndarray]]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Landmarks for a stream of crop batches, in order, overlapping on CUDA.

        Each item is ``(crops, crop_to_frame)``: ``(N, S, S, 3)`` uint8 crops (e.g. from
        `facestream.models.crops.cut_crops`) and their ``(N, 2, 3)`` affines. On CUDA the
        batches go round-robin over ``num_streams`` streams: batch t+1's host-to-device copy
        (from a pinned buffer, non-blocking) overlaps the model on batch t and the
        device-to-host copy of batch t-1; an event per batch says when its results are on
        the host. Elsewhere the batches run one after another.

        Yields:
            ``(points (N, 128, 2), confidence (N, 128))`` per batch, in input order.
        """
        if self.device.type != "cuda":
            for crops, affine in batches:
                yield self._run_crops(crops, affine)
            return
        streams = [torch.cuda.Stream(self.device) for _ in range(self.num_streams)]
        pending: list[tuple[torch.cuda.Event, torch.Tensor, torch.Tensor]] = []
        with torch.inference_mode():
            for t, (crops, affine) in enumerate(batches):
                stream = streams[t % len(streams)]
                host = torch.from_numpy(np.ascontiguousarray(crops)).pin_memory()
                host_affine = torch.from_numpy(np.ascontiguousarray(affine, np.float32))
                with torch.cuda.stream(stream):
                    x = host.to(self.device, non_blocking=True)
                    x = x.permute(0, 3, 1, 2).to(self.dtype).div_(255)
                    x = x.contiguous(memory_format=torch.channels_last)
                    points, conf = decode_heatmaps(
                        self.net(x),
                        host_affine.pin_memory().to(self.device, non_blocking=True),
                        self.decode_blur,
                    )
                    out_points = torch.empty(points.shape, dtype=points.dtype, pin_memory=True)
                    out_conf = torch.empty(conf.shape, dtype=conf.dtype, pin_memory=True)
                    out_points.copy_(points, non_blocking=True)
                    out_conf.copy_(conf, non_blocking=True)
                    done = torch.cuda.Event()
                    done.record(stream)
                pending.append((done, out_points, out_conf))
                while len(pending) >= len(streams):
                    yield _finish(pending.pop(0))
            while pending:
                yield _finish(pending.pop(0))

    @torch.inference_mode()
    def _run_crops(self, crops: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device)
        x = x.permute(0, 3, 1, 2).to(self.dtype).div_(255)
        a = torch.from_numpy(np.ascontiguousarray(affine, np.float32)).to(self.device)
        points, conf = decode_heatmaps(self.net(x), a, self.decode_blur)
        return points.cpu().numpy(), conf.cpu().numpy()


OVERLAP = 0.3
"""A detection with at least this box IoU with a tracked face is that face."""

CLAIM_RADIUS = 1.0
"""A face that fell is looked for this many face sizes around its expected place."""


def _boxes(detections: Sequence[object]) -> np.ndarray:
    return np.stack([np.asarray(d.box, np.float32) for d in detections])  # type: ignore[attr-defined]


def _claim(
    detections: Sequence[object], wanted: np.ndarray, taken: np.ndarray
) -> list[object | None]:
    """For each box of ``wanted`` ``(M, 4)`` in turn, the nearest unclaimed detection whose
    centre lies within `CLAIM_RADIUS` box sizes of the box's centre, or None (a fast face
    can leave its old box entirely); detections over a ``taken`` box are not free."""
    claims: list[object | None] = [None] * len(wanted)
    if not detections:
        return claims
    boxes = _boxes(detections)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    wanted_centres = (wanted[:, :2] + wanted[:, 2:]) / 2
    sizes = (wanted[:, 2:] - wanted[:, :2]).max(1)
    distance = np.linalg.norm(wanted_centres[:, None] - centres[None], axis=-1) / sizes[:, None]
    if len(taken):
        distance[:, box_iou(boxes, taken).max(1) >= OVERLAP] = np.inf
    for i in range(len(wanted)):
        best = int(np.argmin(distance[i]))
        if distance[i, best] <= CLAIM_RADIUS:
            claims[i] = detections[best]
            distance[:, best] = np.inf
    return claims


def _finish(
    item: tuple[torch.cuda.Event, torch.Tensor, torch.Tensor],
) -> tuple[np.ndarray, np.ndarray]:
    done, points, conf = item
    done.synchronize()
    return points.numpy(), conf.numpy()


def _weights_file(model: str | HRNet, weights: str | Path | None) -> Path | None:
    """The existing weights file a variant name loads, or None (a built model, random
    weights, or a missing file, whose error `create_model` raises)."""
    if not isinstance(model, str) or weights is None:
        return None
    path = weights_path(model, weights)
    return path.resolve() if path.is_file() else None


@functools.lru_cache(maxsize=4)
def _frozen_model(
    name: str, path: str, mtime_ns: int
) -> tuple[HRNetConfig, Callable[[torch.Tensor], torch.Tensor]]:
    """A variant with the weights at ``path`` (as modified at ``mtime_ns``), frozen once."""
    net = create_model(name, path).eval()
    return net.config, _freeze(net, net.config.input_size)


def _freeze(net: HRNet, size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model frozen for CPU inference (`facestream.models.torchscript`)."""
    return freeze_for_cpu(net, torch.rand(1, 3, size, size))


def _check_frame(frame: object) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3:
        raise ValueError("frame must be an RGB uint8 array of shape (H, W, 3)")
    if frame.shape[2] != 3:
        raise ValueError(f"frame must have 3 channels (RGB), got {frame.shape[2]}")
    return np.ascontiguousarray(frame)
