"""Run stages over a video file: decode, pipeline, encode, and an atomic rename at the end."""

from __future__ import annotations

import asyncio
import glob
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
from tqdm import tqdm

from facestream.stream.errors import UserError
from facestream.stream.file_io import EncoderOptions, VideoReader, VideoWriter
from facestream.stream.frames import Frame, FrameStage
from facestream.stream.pipeline import QueueMode, run_pipeline


@dataclass
class TranscodeReport:
    """What one file run did."""

    output: Path
    frames: int
    damaged: int  # input frames that could not be decoded, were concealed or are missing
    read_error: str | None  # why reading stopped before the end of the input, if it did
    copied_streams: int  # audio, subtitle and data streams remuxed as they were
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def check_paths(source: Path, output: Path, overwrite: bool = True) -> None:
    """Refuse an output that would overwrite the input, that cannot be written, or, unless
    ``overwrite``, that already exists (the commands' ``--overwrite``)."""
    if output.resolve() == source.resolve() or (
        output.exists() and source.exists() and os.path.samefile(source, output)
    ):
        raise UserError(f"the output {output} is the input file; choose another name.")
    if output.is_dir():
        raise UserError(f"the output {output} is a folder; give a file name.")
    refuse_existing(output, overwrite)
    folder = output.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {output}: {folder} is not an existing folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {output}: the folder {folder} is not writable.")
    try:
        # Opening for writing only picks the muxer from the name; it creates no file.
        with av.open(str(output), "w") as container:
            muxer = container.format.name
    except ValueError:
        raise UserError(
            f"cannot tell a video format from the name {output.name}; use e.g. .mp4 or .mkv."
        ) from None
    if muxer == "image2":  # FFmpeg's muxer of numbered pictures (.png, .jpg...)
        raise UserError(
            f"{output.name} names a picture, not a video; use e.g. .mp4 or .mkv for the output."
        )


def partial_path(output: Path) -> Path:
    """A new name for ``output`` while it is written: hidden, in the same folder (so the
    rename is atomic) and with the same suffix (so FFmpeg picks the same format)."""
    return output.with_name(f".{output.stem}.{uuid.uuid4().hex[:8]}.partial{output.suffix}")


def partials_of(output: Path) -> list[Path]:
    """The ``partial_path`` files of ``output`` that exist: left by a process that was
    killed before it could remove its own."""
    pattern = f".{glob.escape(output.stem)}.*.partial{glob.escape(output.suffix)}"
    return sorted(output.parent.glob(pattern))


def refuse_existing(path: Path, overwrite: bool) -> None:
    """Raise a ``UserError`` naming ``path`` and ``--overwrite`` when ``path`` exists and
    ``overwrite`` is false (a broken link counts: replacing it would remove it)."""
    if not overwrite and os.path.lexists(path):
        raise UserError(f"{path} already exists; add --overwrite (or -y) to replace it.")


def transcode(
    source: Path,
    output: Path,
    stages: Sequence[FrameStage] = (),
    options: EncoderOptions | None = None,
    progress: bool | None = None,
    queue_size: int = 4,
    overwrite: bool = True,
) -> TranscodeReport:
    """Decode ``source``, run ``stages`` over every frame, encode into ``output``.

    Frames keep their pts and time_base; audio, subtitle and data streams are remuxed
    packet by packet; rotation and colour tags are kept. The file is written under a
    temporary name in the output's folder and renamed only once complete, so an
    interruption never leaves a partial file under ``output`` and an existing ``output``
    stays as it was until the new one replaces it.

    Args:
        source: the input video.
        output: where the result goes; its extension picks the container.
        stages: frame stages run in order (none: a plain re-encode).
        options: encoder settings (libx264 at its defaults when omitted).
        progress: show a progress bar; ``None`` shows one when stderr is a terminal.
        queue_size: capacity of each queue of the pipeline.
        overwrite: replace an existing ``output``; when false, refuse it (``UserError``).

    Raises:
        UserError: a problem with the paths or the media, in one sentence.

    Example:
        >>> transcode(Path("talk.mp4"), Path("out.mp4"))  # doctest: +SKIP
        TranscodeReport(output=PosixPath('out.mp4'), frames=250, ...)
    """
    options = options or EncoderOptions()
    check_paths(source, output, overwrite)
    started = time.perf_counter()
    reader = VideoReader(source)
    tmp = partial_path(output)
    writer: VideoWriter | None = None
    bar = tqdm(
        total=reader.expected_frames,
        unit="frame",
        desc=source.name,
        disable=not (sys.stderr.isatty() if progress is None else progress),
        leave=True,
    )
    try:
        writer = VideoWriter(tmp, reader, options)
        reader.forward_packets_to(writer.mux_copy)

        def sink(frame: Frame) -> None:
            writer.write(frame)  # type: ignore[union-attr]
            bar.update()

        asyncio.run(
            run_pipeline(reader.frames(), stages, sink, QueueMode.BACKPRESSURE, maxsize=queue_size)
        )
        writer.close()
        os.replace(tmp, output)
    except BaseException:
        if writer is not None:
            writer.abort()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
        reader.close()
    return TranscodeReport(
        output=output,
        frames=writer.frames_written,
        damaged=reader.damaged_frames,
        read_error=reader.read_error,
        copied_streams=writer.copied_stream_count,
        seconds=time.perf_counter() - started,
    )
