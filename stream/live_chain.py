"""The live processing chain: landmarks, smoothing and the swap, with the call's toggles.

`LiveChain` is the stage a :class:`~facestream.stream.live_track.FaceSwapTrack` runs per
frame. It holds what a user changes while a call goes on (the source face, swap on/off, the
landmark overlay, the smoothing mode) and runs, in order:

1. landmarks: fills ``frame.faces``: the HRNet-128 engine (``LIVE_MODEL``) when its
   trained weights are shipped, else a named stand-in (see :func:`default_landmarks`);
2. smoothing: one ``facestream.filters.smoothing`` smoother per face track;
3. the compositor ``facestream.filters.swap.SwapStage`` (and the overlay).

With the swap and the overlay both off, frames pass through untouched. All methods run on
the track's worker thread (``FaceSwapTrack.call_in_worker``). torch and the models load on
first use, so importing this module stays light for the command line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from facestream.stream.errors import UserError
from facestream.stream.frames import Frame
from facestream.stream.landmark_stage import FaceSmoothing, OverlayStage

log = logging.getLogger(__name__)

SMOOTHING_MODES = ("kalman", "flow", "off")
# The landmark model of live calls: the fast variant.
LIVE_MODEL = "hrnet128_lite"
# The face detector of live calls: BlazeFace short range, made for faces near a camera.
LIVE_DETECTOR = "short"


@dataclass(frozen=True)
class LiveOptions:
    """What the user toggles during a call.

    Attributes:
        swap: paste the source face onto the faces in the frame.
        overlay: draw the landmarks over the output.
        smoothing: landmark smoothing mode, one of ``SMOOTHING_MODES``.
    """

    swap: bool = True
    overlay: bool = False
    smoothing: str = "kalman"

    def updated(self, changes: dict[str, Any]) -> LiveOptions:
        """A copy with ``changes`` applied; unknown keys or bad values raise ``ValueError``."""
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("swap", "overlay"):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false, not {value!r}")
            elif key == "smoothing":
                if value not in SMOOTHING_MODES:
                    raise ValueError(f"smoothing must be one of {SMOOTHING_MODES}, not {value!r}")
            else:
                raise ValueError(f"unknown option {key!r}")
            clean[key] = value
        return replace(self, **clean)


class Landmarks(Protocol):
    """Where faces come from: a frame stage for video and a function for still photos.

    ``process(frame)`` fills ``frame.faces`` with objects carrying ``track_id``, ``points``
    ``(128, 2)``, ``confidence`` ``(128,)`` and ``box`` (the engine's ``FaceLandmarks``);
    calling it on an RGB photo returns those faces (source enrollment).
    """

    name: str  # what the page and the logs call this landmark source

    def process(self, frame: Frame) -> Frame: ...

    def __call__(self, image: np.ndarray) -> list[Any]: ...


@dataclass(frozen=True)
class TemplateFace:
    """A face of :class:`TemplateLandmarks`, shaped like the engine's ``FaceLandmarks``."""

    track_id: int
    points: np.ndarray
    confidence: np.ndarray
    box: np.ndarray
    trust: float = 1.0


class TemplateLandmarks:
    """STAND-IN for the HRNet-128 landmark engine until it is wired in.

    It finds the most confident face with the project's BlazeFace detector and places the
    scheme's mean face shape (``MEAN_SHAPE``) on the detector's eye, nose and mouth
    keypoints by a similarity fit. Pose and size follow the face; expression and identity
    shape do not (the mouth never opens, the jaw is the average jaw), so the swap it drives
    is a rough one. Its points get confidence 0.5 to say so.
    """

    name = "stand-in (mean face on BlazeFace keypoints)"

    def __init__(self) -> None:
        from facestream.models.detector import FaceDetector
        from facestream.models.landmarks import LEFT_EYE, MEAN_SHAPE, OUTER_MOUTH, RIGHT_EYE

        self._detector = FaceDetector("short")
        self._mean = np.asarray(MEAN_SHAPE, np.float32)
        # The detector's keypoints 0-3 (right eye, left eye, nose tip, mouth centre) on the
        # mean shape: eye-polygon centres, the iBUG nose tip (30), the outer-lip centre.
        self._anchors = np.stack(
            [
                self._mean[RIGHT_EYE].mean(axis=0),
                self._mean[LEFT_EYE].mean(axis=0),
                self._mean[30],
                self._mean[OUTER_MOUTH].mean(axis=0),
            ]
        )

    def __call__(self, image: np.ndarray) -> list[TemplateFace]:
        from facestream.filters.shape import fit_similarity, to_frame

        faces = []
        for detection in self._detector.detect(image)[:1]:
            pose = fit_similarity(detection.keypoints[:4], self._anchors)
            points = to_frame(self._mean, pose)
            confidence = np.full(len(points), 0.5, np.float32)
            faces.append(TemplateFace(0, points, confidence, detection.box))
        return faces

    def process(self, frame: Frame) -> Frame:
        frame.faces = self(frame.read_image())
        return frame


class EngineLandmarks:
    """Landmarks from the HRNet-128 engine: tracked in video, detected + predicted in stills.

    Args:
        engine: a ready ``facestream.models.engine.LandmarkEngine``; by default the
            ``LIVE_MODEL`` variant with ``weights``.
        weights: ``"default"`` (the shipped file) or a safetensors path, when no ``engine``.
        video_detector: the BlazeFace variant the default engine's tracker runs in video,
            ``"full"`` (the engine's default) or ``"short"`` (faces within about 2 m of a
            camera: calls; 3.8 against 10.3 CPU ms at 640x480, and every frame on which
            the tracker runs it waits for it). Photos always use ``AnyRangeDetector``: the
            full range, which also finds small faces, then the short range when it finds
            none (a close-up selfie).
    """

    name = "HRNet-128 engine"

    def __init__(
        self, engine: Any = None, weights: str | Path = "default", video_detector: str = "full"
    ) -> None:
        from facestream.models.detector import AnyRangeDetector, FaceDetector
        from facestream.models.engine import LandmarkEngine

        self._detect = AnyRangeDetector().detect
        self.engine = engine or LandmarkEngine(
            LIVE_MODEL, weights=weights, detector=FaceDetector(video_detector).detect
        )

    def __call__(self, image: np.ndarray) -> list[Any]:
        return list(self.engine.predict(image, self._detect(image)))

    def process(self, frame: Frame) -> Frame:
        # Read-only: the frame stays the decoder's YUV and the swap rewrites only face boxes.
        frame.faces = self.engine.track(frame.read_image())
        return frame


def default_landmarks(weights: str | Path | None = None) -> Landmarks:
    """The HRNet-128 lite engine with ``weights`` if given, else with its shipped weights if
    there are any, else the stand-in."""
    from facestream.models.hrnet import default_weights_path

    if weights is not None:
        return EngineLandmarks(weights=weights, video_detector=LIVE_DETECTOR)
    path = default_weights_path(LIVE_MODEL)
    if path.is_file():
        return EngineLandmarks(video_detector=LIVE_DETECTOR)
    _warn_once(
        f"no trained {LIVE_MODEL} weights at {path}: live landmarks come from the stand-in "
        "(the mean face on BlazeFace keypoints; pose follows, expression does not)"
    )
    return TemplateLandmarks()


@cache
def _warn_once(message: str) -> None:
    log.warning(message)


def read_source_image(source: str | Path | np.ndarray) -> np.ndarray:
    """The source face photo as an RGB uint8 array (a path is read with OpenCV)."""
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise UserError(f"the source image must be uint8 RGB (H, W, 3), not {source.shape}")
        return np.ascontiguousarray(source)
    bgr = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"cannot read the source photo {source}: not an image file.")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class LiveChain:
    """One call's processing: options, the enrolled source, and the stages they select.

    Args:
        source: the source face (path or RGB array), or ``None`` for no swap until
            :meth:`set_source`.
        options: the starting toggles.
        landmarks: where faces come from; by default :func:`default_landmarks` (built on
            first use).
        weights: HRNet-128 lite weights (safetensors) for the default landmarks; ``None``
            for the shipped ones.

    Example:
        >>> chain = LiveChain()
        >>> chain.set_options({"overlay": True}).overlay
        True
    """

    def __init__(
        self,
        source: str | Path | np.ndarray | None = None,
        options: LiveOptions | None = None,
        *,
        landmarks: Landmarks | None = None,
        weights: str | Path | None = None,
    ) -> None:
        self.options = options or LiveOptions()
        self._landmarks = landmarks
        self._weights = weights
        self._swap: Any = None  # filters.swap.SwapStage once a source is enrolled
        self._smoothing = _smoothing(self.options.smoothing)
        self._overlay = OverlayStage("landmarks")  # the overlay alone, when no source is set
        # Per step of the last frame (landmarks, smoothing, swap or overlay): wall and
        # CPU seconds of this thread, for benchmarks and profiling.
        self.timings: dict[str, tuple[float, float]] = {}
        if source is not None:
            # Said here as the command line says it (`facestream webcam`, `FaceSwapTrack`);
            # the page's server calls `set_source` itself and shows the sentences.
            for sentence in self.set_source(source):
                log.warning("%s", sentence)

    @property
    def landmarks(self) -> Landmarks:
        if self._landmarks is None:
            self._landmarks = default_landmarks(self._weights)
        return self._landmarks

    @property
    def has_source(self) -> bool:
        """True once a source face is enrolled."""
        return self._swap is not None

    def set_source(self, source: str | Path | np.ndarray, name: str = "") -> list[str]:
        """Enroll a new source face; it is used from the next frame on.

        Args:
            source: a photo path or an RGB uint8 array.
            name: what to call an array source in messages (e.g. the uploaded file name).

        Returns:
            What the user should hear about the face, one sentence each (a soft photo,
            hair over the forehead; `enroll.source_warnings`); empty for none.

        Raises:
            UserError: the photo cannot be read, shows no face or several, or a face too
                small, blurred or turned too far to swap.
        """
        from facestream.filters.enroll import SourceFaceError, enroll_photo, source_warnings
        from facestream.filters.swap import SwapStage

        image = read_source_image(source)
        label = Path(name or "(uploaded)") if isinstance(source, np.ndarray) else Path(source)
        try:
            face = enroll_photo(label, image, self.landmarks)
        except SourceFaceError as exc:
            raise UserError(str(exc)) from None
        self._swap = SwapStage(face, self._swap_options())
        return source_warnings(face)

    def set_options(self, changes: dict[str, Any]) -> LiveOptions:
        """Apply toggles from the next frame on; returns the options now in force."""
        options = self.options.updated(changes)
        if options.smoothing != self.options.smoothing:
            self._smoothing = _smoothing(options.smoothing)
        self.options = options
        if self._swap is not None:
            self._swap.options = self._swap_options()
        return options

    def process(self, frame: Frame) -> Frame:
        self.timings = {}
        swap = self.options.swap and self._swap is not None
        if not (swap or self.options.overlay):
            self._smoothing.reset()
            return frame  # untouched: the encoder gets the decoded frame as it came
        frame = self._timed("landmarks", self.landmarks.process, frame)
        # A causal mode (SMOOTHING_MODES) releases every frame at once.
        (frame,) = self._timed("smoothing", self._smoothing.push, frame)
        if self._swap is not None:
            # Draws the overlay too when it is on.
            return self._timed("swap", self._swap.process, frame)
        return self._timed("overlay", self._overlay.process, frame)

    def _timed(self, step: str, fn: Any, frame: Frame) -> Any:
        """``fn(frame)``, its wall and CPU seconds kept in ``timings[step]``."""
        wall, cpu = time.perf_counter(), time.thread_time()
        result = fn(frame)
        self.timings[step] = (time.perf_counter() - wall, time.thread_time() - cpu)
        return result

    def close(self) -> None:
        self._swap = None
        self._smoothing.reset()
        self._landmarks = None

    def _swap_options(self) -> Any:
        from facestream.filters.swap import SwapOptions

        return SwapOptions(
            swap=self.options.swap, overlay="landmarks" if self.options.overlay else None
        )


def _smoothing(mode: str) -> FaceSmoothing:
    """Per-track smoothing in a live mode: causal, so no frame is held back."""
    from facestream.filters.smoothing import make_smoother_factory

    return FaceSmoothing(make_smoother_factory(mode))
