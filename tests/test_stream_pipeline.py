"""The async pipeline: order, bounded queues, back-pressure vs latest-wins, errors, close."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from fractions import Fraction

import av
import numpy as np
import pytest

from facestream.stream.frames import Frame
from facestream.stream.pipeline import QueueMode, run_pipeline


def frames(n: int) -> Iterator[Frame]:
    for i in range(n):
        yield Frame(pts=i * 10, time_base=Fraction(1, 250), index=i)


class AddOne:
    """Marks each frame it saw; counts concurrent calls to prove stages overlap."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.closed = False
        self.seen: list[int] = []

    def process(self, frame: Frame) -> Frame:
        time.sleep(self.delay)
        self.seen.append(frame.index)
        frame.faces.append(len(frame.faces))
        return frame

    def close(self) -> None:
        self.closed = True


def run(*args, **kwargs):
    return asyncio.run(run_pipeline(*args, **kwargs))


def test_backpressure_keeps_every_frame_in_order() -> None:
    out: list[Frame] = []
    stages = [AddOne(), AddOne()]

    def slow_sink(frame: Frame) -> None:
        time.sleep(0.002)
        out.append(frame)

    stats = run(frames(50), stages, slow_sink, QueueMode.BACKPRESSURE, maxsize=2)
    assert [f.index for f in out] == list(range(50))
    assert [f.pts for f in out] == [i * 10 for i in range(50)]
    assert all(f.faces == [0, 1] for f in out)
    assert stats.frames_in == stats.frames_out == 50
    assert stats.dropped == [0, 0, 0]
    assert all(stage.closed for stage in stages)


def test_backpressure_bounds_frames_in_flight() -> None:
    maxsize, stages = 2, [AddOne()]
    produced = 0
    in_flight: list[int] = []

    def source() -> Iterator[Frame]:
        nonlocal produced
        for frame in frames(40):
            produced += 1
            yield frame

    def slow_sink(frame: Frame) -> None:
        in_flight.append(produced - frame.index)
        time.sleep(0.003)

    run(source(), stages, slow_sink, QueueMode.BACKPRESSURE, maxsize=maxsize)
    # Two queues and three steps (source, stage, sink), each holding at most maxsize frames.
    assert max(in_flight) <= (2 + 3) * maxsize


def test_latest_wins_drops_old_frames_and_keeps_the_newest() -> None:
    out: list[int] = []

    async def live_source() -> AsyncIterator[Frame]:
        for frame in frames(60):
            await asyncio.sleep(0.0005)  # a camera faster than the sink
            yield frame

    def slow_sink(frame: Frame) -> None:
        time.sleep(0.01)
        out.append(frame.index)

    stats = run(live_source(), [AddOne()], slow_sink, QueueMode.LATEST, maxsize=1)
    assert out == sorted(out) and out[-1] == 59  # in order, newest frame delivered
    assert len(out) < 60
    assert stats.frames_in == 60 and stats.frames_out == len(out)
    assert sum(stats.dropped) == 60 - len(out)


def test_backpressure_with_the_same_live_source_drops_nothing() -> None:
    out: list[int] = []

    async def live_source() -> AsyncIterator[Frame]:
        for frame in frames(30):
            yield frame

    async def async_sink(frame: Frame) -> None:
        await asyncio.sleep(0.001)
        out.append(frame.index)

    run(live_source(), [AddOne()], async_sink, QueueMode.BACKPRESSURE, maxsize=1)
    assert out == list(range(30))


def test_stages_run_concurrently_off_the_event_loop() -> None:
    stages = [AddOne(delay=0.02), AddOne(delay=0.02), AddOne(delay=0.02)]
    loop_thread = threading.get_ident()
    sink_threads: set[int] = set()
    started = time.perf_counter()
    run(frames(20), stages, lambda f: sink_threads.add(threading.get_ident()))
    elapsed = time.perf_counter() - started
    # Serial would take 20 * 3 * 20 ms = 1.2 s; overlapped about 20 * 20 ms = 0.4 s.
    assert elapsed < 0.9, elapsed
    assert loop_thread not in sink_threads


class Boom:
    def __init__(self, at: int) -> None:
        self.at = at

    def process(self, frame: Frame) -> Frame:
        if frame.index == self.at:
            raise RuntimeError(f"stage failed on frame {self.at}")
        return frame


def test_a_stage_error_surfaces_once_and_stops_the_rest() -> None:
    out: list[int] = []
    after = AddOne()
    with pytest.raises(RuntimeError, match="stage failed on frame 5"):
        run(frames(1000), [Boom(5), after], lambda f: out.append(f.index), maxsize=2)
    assert out == list(range(len(out))) and len(out) <= 5
    assert after.closed


def test_a_source_error_surfaces() -> None:
    def broken() -> Iterator[Frame]:
        yield from frames(3)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        run(broken(), [AddOne()], lambda f: None)


def test_a_sink_error_surfaces() -> None:
    def sink(frame: Frame) -> None:
        if frame.index == 2:
            raise ValueError("encoder full")

    with pytest.raises(ValueError, match="encoder full"):
        run(frames(100), [AddOne()], sink, maxsize=1)


def test_queues_must_be_bounded() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        run(frames(1), [], lambda f: None, maxsize=0)


def test_frame_image_is_converted_only_on_demand() -> None:
    video_frame = av.VideoFrame.from_ndarray(np.full((4, 6, 3), 200, np.uint8), format="rgb24")
    video_frame = video_frame.reformat(format="yuv420p")
    video_frame.pts, video_frame.time_base = 7, Fraction(1, 30)
    frame = Frame.from_av(video_frame, index=3)
    assert not frame.has_pixels
    assert frame.to_av() is video_frame  # untouched: no conversion at all
    assert frame.image.shape == (4, 6, 3) and frame.has_pixels
    frame.image = np.zeros((4, 6, 3), np.uint8)
    rebuilt = frame.to_av()
    assert rebuilt is not video_frame
    assert (rebuilt.pts, rebuilt.time_base) == (7, Fraction(1, 30))
    with pytest.raises(ValueError, match="uint8"):
        frame.image = np.zeros((4, 6), np.float32)
