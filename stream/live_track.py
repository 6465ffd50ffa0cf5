"""`FaceSwapTrack`: an aiortc video track that face-swaps the track it wraps.

Any aiortc application can put it between an incoming track and a sender::

    pc.addTrack(FaceSwapTrack(incoming_video, source="face.jpg"))

Live rules (the design's "latest wins"): a background task pulls upstream frames into a
one-frame slot, overwriting (and counting) a frame that was not processed in time, so no
queue grows and latency stays bounded; the heavy work runs on a single worker thread owned
by the track, never on the event loop; every output frame keeps its input's pts and
time_base.

Processing starts when the sender asks for a frame (aiortc's sender does so once it has
encoded the previous one), so the frame processed is the newest at that moment. Starting
on arrival instead, while the sender still encodes, was measured (docs/BENCHMARKS.md,
"Live"): no gain with one peer, and a worse p95 with two, where the frame, chosen
earlier, then waits for the busy sender.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from facestream.stream.frames import Frame, FrameStage

log = logging.getLogger(__name__)

# Latency percentiles and fps are taken over this many recent frames.
STATS_WINDOW = 120


@dataclass(frozen=True)
class LiveStats:
    """A snapshot of a live track's health.

    Attributes:
        frames_in: upstream frames received.
        frames_out: frames sent downstream.
        dropped: upstream frames overwritten before they could be processed (latest wins).
        fps: output frame rate over the recent window.
        latency_p50_ms: median time from a frame's arrival to its departure, recent window.
        latency_p95_ms: 95th percentile of the same.
        latency_max_ms: the longest of the same (the stalls a percentile hides).
        process_p50_ms: median time spent in the stages alone, recent window.
        errors: frames whose processing raised (those frames are sent unprocessed).
        last_error: the message of the latest processing error, if any.
        input_age_s: seconds since the last upstream frame arrived (``None`` before the
            first); a growing value means the camera stopped sending.
    """

    frames_in: int
    frames_out: int
    dropped: int
    fps: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    process_p50_ms: float
    errors: int
    last_error: str | None
    input_age_s: float | None

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as JSON-ready values (what the demo page receives)."""
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "dropped": self.dropped,
            "fps": round(self.fps, 2),
            "latency_p50_ms": round(self.latency_p50_ms, 2),
            "latency_p95_ms": round(self.latency_p95_ms, 2),
            "latency_max_ms": round(self.latency_max_ms, 2),
            "process_p50_ms": round(self.process_p50_ms, 2),
            "errors": self.errors,
            "last_error": self.last_error,
            "input_age_s": None if self.input_age_s is None else round(self.input_age_s, 2),
        }


class FaceSwapTrack(MediaStreamTrack):
    """Wrap an aiortc video track and emit its frames with the face swapped.

    Args:
        track: the upstream video track (a browser's camera, a ``MediaPlayer`` track...).
        source: the source face: a photo path, an RGB ``uint8`` array, or ``None`` to start
            with no swap (see ``LiveChain.set_source``). Ignored when ``stages`` is given.
        options: the starting toggles (``LiveOptions``: swap, overlay, smoothing) of the
            default chain. Ignored when ``stages`` is given.
        stages: the processing chain (each has ``process(frame) -> frame``); by default a
            :class:`~facestream.stream.live_chain.LiveChain` built from ``source``.

    Example:
        >>> from aiortc import VideoStreamTrack
        >>> track = FaceSwapTrack(VideoStreamTrack(), stages=[])
        >>> track.kind
        'video'
    """

    kind = "video"

    def __init__(
        self,
        track: MediaStreamTrack,
        source: Any = None,
        *,
        options: Any = None,
        stages: Sequence[FrameStage] | None = None,
    ) -> None:
        super().__init__()
        if track.kind != "video":
            raise ValueError(f"FaceSwapTrack wraps a video track, not a {track.kind} track")
        if stages is None:
            from facestream.stream.live_chain import LiveChain

            stages = [LiveChain(source=source, options=options)]
        self.stages: list[FrameStage] = list(stages)
        self._upstream = track
        # One worker thread per track: frames are processed in order, and stage state
        # (trackers, smoothers) is only ever touched from that thread.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facestream-live")
        self._slot: tuple[av.VideoFrame, float] | None = None
        self._slot_filled = asyncio.Event()
        self._upstream_ended = False
        self._pull_task: asyncio.Task[None] | None = None
        self._index = 0
        self._frames_in = 0
        self._frames_out = 0
        self._dropped = 0
        self._errors = 0
        self._last_error: str | None = None
        self._latencies: deque[float] = deque(maxlen=STATS_WINDOW)
        self._process_times: deque[float] = deque(maxlen=STATS_WINDOW)
        self._sent_at: deque[float] = deque(maxlen=STATS_WINDOW)
        self._last_arrival: float | None = None

    @property
    def stats(self) -> LiveStats:
        """Frame counts, output fps, latency percentiles and dropped frames so far."""
        latencies = np.asarray(self._latencies, dtype=np.float64) * 1000.0
        process = np.asarray(self._process_times, dtype=np.float64) * 1000.0
        fps = 0.0
        if len(self._sent_at) >= 2:
            span = self._sent_at[-1] - self._sent_at[0]
            fps = (len(self._sent_at) - 1) / span if span > 0 else 0.0
        return LiveStats(
            frames_in=self._frames_in,
            frames_out=self._frames_out,
            dropped=self._dropped,
            fps=fps,
            latency_p50_ms=float(np.percentile(latencies, 50)) if latencies.size else 0.0,
            latency_p95_ms=float(np.percentile(latencies, 95)) if latencies.size else 0.0,
            latency_max_ms=float(latencies.max()) if latencies.size else 0.0,
            process_p50_ms=float(np.percentile(process, 50)) if process.size else 0.0,
            errors=self._errors,
            last_error=self._last_error,
            input_age_s=None
            if self._last_arrival is None
            else time.perf_counter() - self._last_arrival,
        )

    async def call_in_worker(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the track's worker thread, in order with frame processing.

        Use it to change stage state (a new source face, a toggle) without racing a frame
        that is being processed.
        """
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def recv(self) -> av.VideoFrame:
        """Return the newest upstream frame, processed, with its own pts and time_base."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._pull_task is None:
            self._pull_task = asyncio.ensure_future(self._pull())
        while self._slot is None:
            if self._upstream_ended:
                self.stop()
                raise MediaStreamError
            self._slot_filled.clear()
            await self._slot_filled.wait()
            if self.readyState != "live":
                raise MediaStreamError
        video_frame, arrived = self._slot
        self._slot = None
        frame = Frame.from_av(video_frame, index=self._index)
        self._index += 1
        out, took = await self.call_in_worker(self._process, frame)
        now = time.perf_counter()
        self._latencies.append(now - arrived)
        self._process_times.append(took)
        self._sent_at.append(now)
        self._frames_out += 1
        return out

    def stop(self) -> None:
        """End this track: stop pulling upstream, free the worker and the stages."""
        if self.readyState == "live" and self._pull_task is not None:
            self._pull_task.cancel()
        was_live = self.readyState == "live"
        super().stop()
        self._slot_filled.set()  # wake a recv() waiting for a frame that will never come
        if was_live:
            self._executor.submit(self._close_stages)
            self._executor.shutdown(wait=False)

    async def _pull(self) -> None:
        """Keep the slot filled with the newest upstream frame until upstream ends."""
        try:
            while True:
                video_frame = cast(av.VideoFrame, await self._upstream.recv())
                if self._slot is not None:
                    self._dropped += 1
                self._last_arrival = time.perf_counter()
                self._slot = (video_frame, self._last_arrival)
                self._frames_in += 1
                self._slot_filled.set()
        except MediaStreamError:
            pass
        finally:
            self._upstream_ended = True
            self._slot_filled.set()

    def _process(self, frame: Frame) -> tuple[av.VideoFrame, float]:
        """Run the stages on one frame (worker thread); a failing frame passes unprocessed."""
        start = time.perf_counter()
        source = frame.source
        try:
            for stage in self.stages:
                frame = _one_frame(stage, stage.process(frame))
            out = frame.to_av()
        except Exception as error:  # a bad frame must not end the call
            message = f"{type(error).__name__}: {error}"
            if message != self._last_error:  # once per kind of failure, not 30 times a second
                log.warning("frame processing failed, sending frames unprocessed: %s", message)
            self._errors += 1
            self._last_error = message
            out = source
        return out, time.perf_counter() - start

    def _close_stages(self) -> None:
        for stage in self.stages:
            close = getattr(stage, "close", None)
            if close is not None:
                close()


def _one_frame(stage: FrameStage, result: Frame | list[Frame]) -> Frame:
    """A stage's output as one frame: a live call cannot hold frames back or add some."""
    if isinstance(result, Frame):
        return result
    if len(result) == 1:  # a buffering stage in a causal mode releases each frame at once
        return result[0]
    raise TypeError(
        f"{type(stage).__name__} released {len(result)} frames for one: a live track runs "
        "causal stages only (no look-ahead such as fixed-lag smoothing)"
    )
