"""Shared fixtures: synthetic media made with PyAV, and the shared data folder."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; the test skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared data folder {SHARED_DATA}")
    return SHARED_DATA


def write_video(
    path: Path,
    *,
    codec: str = "libx264",
    size: tuple[int, int] = (64, 48),
    pix_fmt: str = "yuv420p",
    pts: Sequence[int] = tuple(range(10)),
    time_base: Fraction = Fraction(1, 25),
    audio: Sequence[str] = (),
    rotation: int | None = None,
    colour: dict[str, int] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a small test video: moving gradient frames at the given pts, sine audio streams.

    Args:
        size: (width, height).
        pts: one frame per value, in ``time_base`` units (irregular steps give VFR).
        audio: one audio stream per codec name (e.g. ``("aac",)``), one second of a tone each.
        rotation: display rotation in degrees, stored as the container's display matrix.
        colour: encoder colour tags, e.g. ``{"color_range": 2, "colorspace": 1}``.
        options: container options, e.g. ``{"movflags": "+faststart"}``.
    """
    width, height = size
    with av.open(str(path), "w", options=options or {}) as container:
        video = container.add_stream(codec, rate=1 / time_base)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = video.codec_context.time_base = time_base
        for name, value in (colour or {}).items():
            setattr(video.codec_context, name, value)
        if rotation is not None:
            video.set_display_rotation(rotation)
        audio_streams = [container.add_stream(name, rate=48000) for name in audio]
        yy, xx = np.mgrid[0:height, 0:width]
        for i, t in enumerate(pts):
            image = np.stack([(xx * 4 + i * 8) % 256, (yy * 4) % 256, np.full_like(xx, i * 20)], -1)
            frame = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        for k, stream in enumerate(audio_streams):
            _write_tone(container, stream, 220.0 * (k + 1))
    return path


def _write_tone(container: av.container.OutputContainer, stream: av.AudioStream, hz: float) -> None:
    codec = stream.codec_context
    samples = codec.frame_size or 1024
    fmt = codec.format.name
    for start in range(0, 48000, samples):
        t = (start + np.arange(samples)) / 48000
        tone = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        planar = fmt.endswith("p")
        layout = np.tile(tone, (codec.layout.nb_channels, 1))
        data = layout if planar else layout.T.reshape(1, -1)
        if fmt.startswith("s16"):
            data = (data * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=codec.layout.name)
        frame.sample_rate, frame.pts = 48000, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """``caplog`` holding the "facestream" warnings."""
    # The CLI (run by other tests) leaves "facestream" records at its own handler only.
    monkeypatch.setattr(logging.getLogger("facestream"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="facestream")
    return caplog


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """``make_video(name, **kwargs)`` writes ``write_video`` media into the test's tmp dir."""

    def make(name: str = "in.mp4", **kwargs: object) -> Path:
        return write_video(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return make
