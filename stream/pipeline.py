"""An asyncio pipeline of frame stages joined by bounded queues.

source ──► q ──► stage 1 ──► q ──► ... ──► stage n ──► q ──► sink

Every step runs in its own worker thread (decode, each stage's ``process``, encode), so the
steps overlap while the event loop only moves frames between queues. A step takes every
frame waiting in its queue in one trip to its thread, which keeps thread wake-ups off the
critical path when the pipeline is saturated. Every queue is bounded:
in ``BACKPRESSURE`` mode (files) a full queue makes the producer wait and no frame is ever
dropped; in ``LATEST`` mode (live sources) a full queue drops its oldest frame so latency
cannot grow.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from facestream.stream.frames import Frame, FrameStage


class QueueMode(enum.Enum):
    """What a full queue does with a new frame."""

    BACKPRESSURE = "backpressure"  # wait for room: files, never drop
    LATEST = "latest"  # drop the oldest queued frame: live sources, bounded latency


@dataclass
class PipelineStats:
    """What went through a pipeline run."""

    frames_in: int = 0
    frames_out: int = 0
    # Frames dropped at each queue (index 0 is the queue after the source); LATEST mode only.
    dropped: list[int] = field(default_factory=list)


_END = object()  # end-of-stream marker; never dropped


class _Link:
    """A bounded queue between two steps, with the mode's put policy."""

    def __init__(self, maxsize: int, mode: QueueMode) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.mode = mode
        self.dropped = 0

    async def put(self, item: Any) -> None:
        if self.mode is QueueMode.LATEST and item is not _END:
            while self.queue.full():
                self.queue.get_nowait()  # never _END: nothing is put after it
                self.dropped += 1
            self.queue.put_nowait(item)
        else:
            await self.queue.put(item)

    def room(self) -> int:
        """How many frames a producer may add without waiting (at least 1)."""
        return max(1, self.queue.maxsize - self.queue.qsize())

    async def take(self) -> tuple[list[Frame], bool]:
        """Wait for a frame; return it with every frame queued behind it, and whether the
        stream ended. Handing a whole batch to a worker thread saves thread wake-ups per
        frame; in LATEST mode one frame at a time, so no stale frame is processed.
        """
        batch: list[Frame] = []
        item = await self.queue.get()
        while item is not _END:
            batch.append(item)
            if self.mode is QueueMode.LATEST or self.queue.empty():
                return batch, False
            item = self.queue.get_nowait()
        return batch, True


def _next_frames(frames: Iterator[Frame], count: int) -> list[Frame]:
    return list(itertools.islice(frames, count))


def _process_all(process: Callable[[Frame], Any], frames: list[Frame]) -> list[Any]:
    return [process(frame) for frame in frames]


def _run_stage(stage: FrameStage, frames: list[Frame]) -> list[Frame]:
    """The frames a stage releases for ``frames``: one each, or a buffering stage's list."""
    out: list[Frame] = []
    for frame in frames:
        result = stage.process(frame)
        if isinstance(result, Frame):
            out.append(result)
        else:
            out.extend(result)
    return out


def _flush(stage: FrameStage) -> list[Frame]:
    """The frames a buffering stage still holds at the end of the stream."""
    flush = getattr(stage, "flush", None)
    return list(flush()) if flush is not None else []


Source = Iterator[Frame] | AsyncIterator[Frame]
Sink = Callable[[Frame], None] | Callable[[Frame], Awaitable[None]]


async def run_pipeline(
    source: Source,
    stages: Sequence[FrameStage],
    sink: Sink,
    mode: QueueMode = QueueMode.BACKPRESSURE,
    maxsize: int = 4,
) -> PipelineStats:
    """Pull frames from ``source``, pass them through ``stages`` in order, hand them to ``sink``.

    Args:
        source: frames to process; a plain iterator (e.g. a file decoder) is advanced in a
            worker thread, an async iterator (e.g. a live track) on the event loop.
        stages: objects with ``process(frame)``, each run in its own worker thread; it
            returns the frame, or (a buffering stage) the list of frames it releases now,
            in order, possibly empty; a buffering stage's ``flush()`` returns the frames it
            still holds once the stream has ended.
        sink: called once per frame in order; a plain function runs in a worker thread, an
            ``async def`` on the event loop.
        mode: ``BACKPRESSURE`` never drops a frame; ``LATEST`` keeps only the newest frames.
        maxsize: capacity of every queue (at least 1).

    Returns:
        Counts of frames read, written and dropped per queue.

    Raises:
        The first exception raised by the source, a stage or the sink; the other steps are
        cancelled, worker threads finish their current frame, and every stage's ``close()``
        runs before the exception surfaces.

    Example:
        >>> stats = asyncio.run(run_pipeline(iter([]), [], lambda f: None))
        >>> stats.frames_out
        0
    """
    if maxsize < 1:
        raise ValueError("every pipeline queue needs a maxsize of at least 1")
    links = [_Link(maxsize, mode) for _ in range(len(stages) + 1)]
    stats = PipelineStats()
    # One thread per step so a slow stage never waits for a free worker.
    executor = ThreadPoolExecutor(max_workers=len(stages) + 2, thread_name_prefix="facestream")
    loop = asyncio.get_running_loop()

    def in_thread(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return loop.run_in_executor(executor, fn, *args)

    async def read() -> None:
        if isinstance(source, AsyncIterator):
            async for frame in source:
                stats.frames_in += 1
                await links[0].put(frame)
        else:
            while True:
                wanted = links[0].room()
                frames = await in_thread(_next_frames, source, wanted)
                for frame in frames:
                    stats.frames_in += 1
                    await links[0].put(frame)
                if len(frames) < wanted:
                    break
        await links[0].put(_END)

    async def step(stage: FrameStage, inbox: _Link, outbox: _Link) -> None:
        ended = False
        while not ended:
            batch, ended = await inbox.take()
            if batch:
                for frame in await in_thread(_run_stage, stage, batch):
                    await outbox.put(frame)
        for frame in await in_thread(_flush, stage):
            await outbox.put(frame)
        await outbox.put(_END)

    async def write() -> None:
        is_async = inspect.iscoroutinefunction(sink)
        ended = False
        while not ended:
            batch, ended = await links[-1].take()
            if is_async:
                for frame in batch:
                    await sink(frame)  # type: ignore[misc]
            elif batch:
                await in_thread(_process_all, sink, batch)
            stats.frames_out += len(batch)

    tasks = [asyncio.create_task(read())]
    tasks += [
        asyncio.create_task(step(stage, links[i], links[i + 1])) for i, stage in enumerate(stages)
    ]
    tasks.append(asyncio.create_task(write()))
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Threads cannot be interrupted: wait for them before anyone closes the containers
        # they are using.
        await loop.run_in_executor(None, executor.shutdown, True)
        for stage in stages:
            close = getattr(stage, "close", None)
            if close is not None:
                close()
    stats.dropped = [link.dropped for link in links]
    return stats
