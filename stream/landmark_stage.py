"""Landmarks and their smoothing as pipeline stages, shared by files and live calls.

`FaceSmoothing` runs one smoother (``facestream.filters.smoothing``) per face track over a
stream of frames whose ``faces`` are filled, and replaces each face's points by the smoothed
ones. A fixed-lag smoother answers for a frame only after it has seen the next
``lag_frames`` frames of that track, so `FaceSmoothing` holds frames and releases them, in
order, once every face in them is smoothed: this is the buffering-stage contract of
``facestream.stream.frames.FrameStage`` (``process`` returns a list, ``flush`` at the end).
With a causal mode (``"kalman"``, ``"flow"``, ``"off"``) every frame is released at once.
For a smoother that follows the pixels (``"flow"``), `FaceSmoothing` measures each face's
motion since the previous frame (``facestream.filters.face_flow.face_motion`` on the grey
frames, around the face's last raw points) and hands it to the smoother.

`LandmarkStage` is the file pipeline's first stage: ``engine.track`` per frame, then
`FaceSmoothing`. `OverlayStage` draws the (smoothed) points when no source face is given.

Example:
    >>> from facestream.filters.smoothing import make_smoother_factory
    >>> smoothing = FaceSmoothing(make_smoother_factory("fixed-lag"))
    >>> smoothing.push(Frame(pts=0, time_base=None, index=0))  # no face: nothing to wait for
    [Frame(pts=0, time_base=None, index=0, faces=[], source=None)]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from facestream.filters.face_flow import face_motion
from facestream.stream.frames import Frame

# Frame time for smoothing when a frame carries no pts (never for aiortc or PyAV frames).
FALLBACK_FPS = 30.0


def frame_time(frame: Frame) -> float:
    """The frame's time in seconds: pts x time_base, else the index at `FALLBACK_FPS`."""
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    return frame.index / FALLBACK_FPS


class FaceSmoothing:
    """One smoother per face track over a stream of frames, frames released in order.

    Args:
        new_smoother: makes the smoother of a new track, e.g.
            ``make_smoother_factory("fixed-lag")``.

    A track absent from a frame has ended: its smoother is flushed (the frames it held get
    their smoothed points) and forgotten; the engine keeps ids stable while a face stays.
    """

    def __init__(self, new_smoother: Callable[[], Any]) -> None:
        self.new_smoother = new_smoother
        self.reset()

    def reset(self) -> None:
        """Forget every track and drop the frames held (a new stream starts)."""
        self._smoothers: dict[int, Any] = {}
        # Per track, the (frame, face index) pairs its smoother has not answered yet, oldest
        # first: a smoother answers its updates in order, one answer per update.
        self._waiting: dict[int, deque[tuple[Frame, int]]] = {}
        self._unanswered: dict[int, int] = {}  # id(frame) -> faces still waiting
        self._held: deque[Frame] = deque()
        self._last_t: float | None = None
        # For smoothers that take the pixels' motion: the previous frame in grey (None when
        # no such smoother looked at it) and each such track's raw points in it.
        self._last_grey: np.ndarray | None = None
        self._last_points: dict[int, np.ndarray] = {}

    def push(self, frame: Frame) -> list[Frame]:
        """Smooth the faces of ``frame``; return the frames now complete, oldest first."""
        t = frame_time(frame)
        if self._last_t is not None and t <= self._last_t:
            # A repeated or decreasing pts (a damaged file): keep the filter's time moving.
            t = self._last_t + 1e-6
        self._last_t = t
        present = {face.track_id for face in frame.faces}
        for track_id in [i for i in self._smoothers if i not in present]:
            self._end_track(track_id)
        self._held.append(frame)
        self._unanswered[id(frame)] = len(frame.faces)
        grey = None
        for index, face in enumerate(frame.faces):
            smoother = self._smoothers.get(face.track_id)
            if smoother is None:
                smoother = self._smoothers[face.track_id] = self.new_smoother()
                self._waiting[face.track_id] = deque()
            self._waiting[face.track_id].append((frame, index))
            motion = None
            if smoother.uses_motion:
                if grey is None:
                    grey = cv2.cvtColor(frame.read_image(), cv2.COLOR_RGB2GRAY)
                last = self._last_points.get(face.track_id)
                if last is not None and self._last_grey is not None:
                    motion = face_motion(self._last_grey, grey, last)
                self._last_points[face.track_id] = face.points
            out = smoother.update(face.points, face.confidence, t, motion)
            if out is not None:
                self._answer(face.track_id, out.points)
        self._last_grey = grey
        return self._release()

    def flush(self) -> list[Frame]:
        """End every track and return all frames still held, oldest first."""
        for track_id in list(self._smoothers):
            self._end_track(track_id)
        return self._release()

    def _end_track(self, track_id: int) -> None:
        self._last_points.pop(track_id, None)
        for out in self._smoothers.pop(track_id).flush():
            self._answer(track_id, out.points)
        # A smoother answers every update, so nothing of the track is left waiting.
        assert not self._waiting.pop(track_id), "a smoother left an update unanswered"

    def _answer(self, track_id: int, points: np.ndarray) -> None:
        frame, index = self._waiting[track_id].popleft()
        # FaceLandmarks is a dataclass (docs/ARCHITECTURE.md): a copy with the new points.
        frame.faces[index] = replace(frame.faces[index], points=points.astype(np.float32))
        self._unanswered[id(frame)] -= 1

    def _release(self) -> list[Frame]:
        out = []
        while self._held and self._unanswered[id(self._held[0])] == 0:
            frame = self._held.popleft()
            del self._unanswered[id(frame)]
            out.append(frame)
        return out


class LandmarkStage:
    """Pipeline stage: tracked landmarks (``engine.track``) then per-track smoothing.

    A buffering stage when the smoother looks ahead (fixed-lag): see `FaceSmoothing`.

    Args:
        engine: a ``facestream.models.engine.LandmarkEngine`` (anything with
            ``track(rgb) -> list[FaceLandmarks]`` and ``reset()``).
        new_smoother: the smoother factory (``make_smoother_factory(mode, strength)``).
    """

    def __init__(self, engine: Any, new_smoother: Callable[[], Any]) -> None:
        self.engine = engine
        self.smoothing = FaceSmoothing(new_smoother)

    def process(self, frame: Frame) -> list[Frame]:
        frame.faces = self.engine.track(frame.read_image())
        return self.smoothing.push(frame)

    def flush(self) -> list[Frame]:
        return self.smoothing.flush()

    def reset(self) -> None:
        """Forget tracks and held frames; the model stays loaded (``facestream batch``)."""
        self.engine.reset()
        self.smoothing.reset()


class OverlayStage:
    """Pipeline stage: draws each face's overlay (``facestream.filters.overlay``) in place."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def process(self, frame: Frame) -> Frame:
        if frame.faces:
            from facestream.filters.overlay import draw_overlay

            for face in frame.faces:
                points = np.asarray(face.points, np.float32)
                # On a patch around the face (room for the dots and anti-aliasing), so the
                # frame is not converted whole.
                pad = round(float(np.ptp(points[:, 0])) / 150) + 4
                x0, y0 = np.floor(points.min(axis=0)).astype(int) - pad
                x1, y1 = np.ceil(points.max(axis=0)).astype(int) + pad + 1
                box = frame.patch_box(int(x0), int(y0), int(x1), int(y1))
                if box[2] > box[0] and box[3] > box[1]:
                    with frame.edit_patch(box) as patch:
                        draw_overlay(patch, points - np.float32(box[:2]), self.kind)
        return frame

    def reset(self) -> None:
        """Nothing is kept between frames."""
