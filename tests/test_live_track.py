"""FaceSwapTrack with a fake upstream camera: timing kept, latest wins, clean end."""

from __future__ import annotations

import asyncio
import fractions
import threading
import time

import av
import numpy as np
import pytest
from aiortc import VideoStreamTrack
from aiortc.mediastreams import MediaStreamError

from facestream.stream.frames import Frame
from facestream.stream.live_track import FaceSwapTrack


class FakeCamera(VideoStreamTrack):
    """Generated 64x48 frames at aiortc's 30 fps pace; ends after ``count`` frames."""

    def __init__(self, count: int | None = None) -> None:
        super().__init__()
        self.count = count
        self.sent: list[tuple[int, fractions.Fraction]] = []

    async def recv(self) -> av.VideoFrame:
        if self.count is not None and len(self.sent) >= self.count:
            self.stop()
            raise MediaStreamError
        pts, time_base = await self.next_timestamp()
        image = np.full((48, 64, 3), len(self.sent) % 256, np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        self.sent.append((pts, time_base))
        return frame


class Invert:
    """A stage that visibly changes pixels."""

    def process(self, frame: Frame) -> Frame:
        frame.image = 255 - frame.image
        return frame


class Slow:
    """A stage slower than the camera (100 ms a frame vs 33 ms between frames)."""

    def __init__(self) -> None:
        self.threads: set[str] = set()

    def process(self, frame: Frame) -> Frame:
        self.threads.add(threading.current_thread().name)
        time.sleep(0.1)
        return frame


class Boom:
    def process(self, frame: Frame) -> Frame:
        raise RuntimeError("no face model")


async def drain(track: FaceSwapTrack) -> list[av.VideoFrame]:
    frames = []
    with pytest.raises(MediaStreamError):
        while True:
            frames.append(await track.recv())
    return frames


def test_output_keeps_pts_and_time_base_and_ends() -> None:
    async def main() -> None:
        camera = FakeCamera(count=10)
        track = FaceSwapTrack(camera, stages=[Invert()])
        frames = await drain(track)
        assert track.readyState == "ended"
        assert frames, "no frame came out"
        sent = dict(camera.sent)
        for frame in frames:
            assert frame.pts in sent
            assert frame.time_base == sent[frame.pts]
        assert [f.pts for f in frames] == sorted({f.pts for f in frames})
        assert frames[0].to_ndarray(format="rgb24")[0, 0, 0] == 255 - 0
        stats = track.stats
        assert stats.frames_out == len(frames)
        assert stats.frames_in == 10
        assert stats.frames_in == stats.frames_out + stats.dropped

    asyncio.run(main())


def test_slow_stage_drops_old_frames_without_growing_latency() -> None:
    async def main() -> None:
        camera = FakeCamera()
        slow = Slow()
        track = FaceSwapTrack(camera, stages=[slow])
        latencies = []
        for _ in range(12):
            await track.recv()
            latencies.append(track.stats.latency_p95_ms)
        stats = track.stats
        track.stop()
        camera.stop()
        assert stats.dropped > 0, "a slow stage must make the track drop stale frames"
        # Receive -> send is at most one wait for the frame in progress plus its own
        # processing (~200 ms), never a backlog: it does not grow with the call's length.
        assert stats.latency_p95_ms < 400, stats
        assert stats.latency_p95_ms <= stats.latency_max_ms < 400
        assert latencies[-1] < 400
        assert 0 < stats.frames_in - stats.frames_out - stats.dropped <= 1
        assert all(name.startswith("facestream-live") for name in slow.threads)

    asyncio.run(main())


def test_a_failing_stage_sends_the_frame_unprocessed_and_counts_it() -> None:
    async def main() -> None:
        camera = FakeCamera(count=3)
        track = FaceSwapTrack(camera, stages=[Boom()])
        frames = await drain(track)
        assert frames and track.stats.errors == len(frames)
        assert "no face model" in (track.stats.last_error or "")

    asyncio.run(main())


def test_stop_while_waiting_ends_recv() -> None:
    async def main() -> None:
        camera = FakeCamera()
        track = FaceSwapTrack(camera, stages=[])
        await track.recv()
        waiter = asyncio.ensure_future(track.recv())
        track.stop()
        with pytest.raises(MediaStreamError):
            await waiter
        camera.stop()

    asyncio.run(main())


def test_only_video_tracks_are_wrapped() -> None:
    from aiortc import AudioStreamTrack

    with pytest.raises(ValueError, match="video"):
        FaceSwapTrack(AudioStreamTrack(), stages=[])


class Holds:
    """A buffering stage with look-ahead: releases nothing for the first frame."""

    def process(self, frame: Frame) -> list[Frame]:
        return []


class Causal:
    """A buffering stage in a causal mode: releases each frame at once, as a list."""

    def process(self, frame: Frame) -> list[Frame]:
        frame.image = 255 - frame.image
        return [frame]


def test_buffering_stages_must_be_causal() -> None:
    async def main() -> None:
        camera = FakeCamera(count=3)
        frames = await drain(FaceSwapTrack(camera, stages=[Causal()]))
        assert frames and frames[0].to_ndarray(format="rgb24")[0, 0, 0] == 255
        track = FaceSwapTrack(FakeCamera(count=3), stages=[Holds()])
        frames = await drain(track)
        assert frames and track.stats.errors == len(frames)
        assert "causal stages only" in (track.stats.last_error or "")

    asyncio.run(main())
