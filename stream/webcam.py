"""Swap a source face onto a webcam, live: preview window, virtual camera, recording.

The camera is read with PyAV (through aiortc's ``MediaPlayer``: v4l2 on Linux,
avfoundation on macOS, dshow on Windows) and goes through the same
:class:`~facestream.stream.live_track.FaceSwapTrack` as the WebRTC demo, so the newest
frame always wins. The outputs (an OpenCV preview window, a ``pyvirtualcam`` virtual camera
that video-call apps can pick, an MP4 recording) all run on one sink thread, off the event
loop.

Example::

    facestream webcam --device /dev/video0 --source face.jpg --preview --record out.mp4
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError

from facestream.filters.provenance import provenance_for
from facestream.stream.cli_swap import add_overwrite_flag
from facestream.stream.errors import UserError
from facestream.stream.live_chain import SMOOTHING_MODES, LiveOptions
from facestream.stream.live_track import FaceSwapTrack
from facestream.stream.transcode import refuse_existing

log = logging.getLogger("facestream")

# PyAV (FFmpeg) input format and a default device name per platform.
CAPTURE = {
    "linux": ("v4l2", "/dev/video0"),
    "darwin": ("avfoundation", "0"),
    "win32": ("dshow", "video=Integrated Camera"),
}
PREVIEW_WINDOW = "facestream (q to quit)"


def capture_format() -> tuple[str, str]:
    """The (FFmpeg input format, default device) for this platform."""
    for prefix, choice in CAPTURE.items():
        if sys.platform.startswith(prefix):
            return choice
    raise UserError(f"webcam capture is not supported on {sys.platform}.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="camera (default: /dev/video0, 0, or a dshow name)")
    parser.add_argument("--source", type=Path, required=True, help="photo of the face to swap in")
    parser.add_argument("--size", default="640x480", help="capture size WxH (default: 640x480)")
    parser.add_argument("--fps", type=int, default=30, help="capture frame rate (default: 30)")
    parser.add_argument("--preview", action="store_true", help="show an OpenCV preview window")
    parser.add_argument(
        "--virtual-cam",
        action="store_true",
        help="send to a virtual camera (pyvirtualcam; v4l2loopback on Linux)",
    )
    parser.add_argument("--record", type=Path, help="also save what was sent to this MP4 file")
    add_overwrite_flag(parser, help="replace an existing --record file")
    parser.add_argument(
        "--smooth",
        choices=SMOOTHING_MODES,
        default="kalman",
        help="landmark smoothing (default: kalman; flow moves the head by the pixels' motion: "
        "no lag, less steady)",
    )


def open_camera(device: str | None, size: str, fps: int) -> MediaPlayer:
    """Open the camera with PyAV, or raise one clear sentence saying why not."""
    fmt, default = capture_format()
    device = device or default
    options = {"video_size": size, "framerate": str(fps)}
    try:
        player = MediaPlayer(device, format=fmt, options=options)
    except (av.error.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UserError(f"cannot open the camera {device} ({fmt}): {reason}.") from None
    if player.video is None:
        raise UserError(f"the camera {device} gives no video.")
    return player


class VirtualCamera:
    """A ``pyvirtualcam`` camera; the constructor says clearly when none can be opened."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise UserError(
                "--virtual-cam needs pyvirtualcam: pip install 'facestream[webcam]'."
            ) from None
        try:
            self.camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB)
        except RuntimeError as exc:
            hint = " (on Linux: sudo modprobe v4l2loopback)" if sys.platform == "linux" else ""
            raise UserError(f"no virtual camera device is available{hint}: {exc}") from None

    def send(self, image: np.ndarray) -> None:
        self.camera.send(image)

    def close(self) -> None:
        self.camera.close()


class Recorder:
    """H.264 MP4 of the sent frames, written under a temporary name and renamed when done."""

    def __init__(self, path: Path, width: int, height: int, time_base: Fraction) -> None:
        if path.suffix.lower() != ".mp4":
            raise UserError(f"--record writes MP4; name the file .mp4, not {path.name}.")
        self.path = path
        self.partial = path.with_name(path.stem + ".partial.mp4")
        # What was sent is swapped: the file says so, as `facestream swap` outputs do.
        metadata, muxer_options = provenance_for(path.suffix)
        try:
            self.container = av.open(str(self.partial), "w", options=muxer_options)
        except av.error.FFmpegError as exc:
            raise UserError(f"cannot write {path} ({exc.strerror}).") from None
        self.container.metadata.update(metadata)
        self.stream = self.container.add_stream("libx264", rate=30)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        # Frames keep the camera's timestamps; the encoder counts in the same time base.
        self.stream.time_base = self.stream.codec_context.time_base = time_base
        self.stream.codec_context.options = {"preset": "veryfast", "tune": "zerolatency"}
        self.first_pts: int | None = None

    def write(self, frame: av.VideoFrame) -> None:
        if self.first_pts is None:
            self.first_pts = frame.pts or 0
        out = frame.reformat(format="yuv420p")
        out.pts, out.time_base = (frame.pts or 0) - self.first_pts, frame.time_base
        self.container.mux(self.stream.encode(out))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()
        self.partial.replace(self.path)


class Outputs:
    """Preview, virtual camera and recorder; every method runs on the one sink thread."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.virtual: VirtualCamera | None = None
        self.recorder: Recorder | None = None
        self.quit = False

    def send(self, frame: av.VideoFrame) -> None:
        image = frame.to_ndarray(format="rgb24")
        if self.args.virtual_cam:
            if self.virtual is None:
                self.virtual = VirtualCamera(frame.width, frame.height, self.args.fps)
            self.virtual.send(image)
        if self.args.record is not None:
            if self.recorder is None:
                time_base = frame.time_base or Fraction(1, 90000)
                self.recorder = Recorder(self.args.record, frame.width, frame.height, time_base)
            self.recorder.write(frame)
        if self.args.preview:
            try:
                cv2.imshow(PREVIEW_WINDOW, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                self.quit = (cv2.waitKey(1) & 0xFF) in (ord("q"), 27)
            except cv2.error:
                raise UserError(
                    "cannot open a preview window here (no display); use --virtual-cam or "
                    "--record instead."
                ) from None

    def close(self) -> None:
        if self.virtual is not None:
            self.virtual.close()
        if self.recorder is not None:
            self.recorder.close()
            log.info("recorded %s", self.args.record)
        if self.args.preview:
            cv2.destroyAllWindows()


async def swap_webcam(args: argparse.Namespace) -> None:
    """Run the camera through the swap until the camera ends, q is pressed, or Ctrl+C."""
    player = open_camera(args.device, args.size, args.fps)
    assert player.video is not None
    swapped = FaceSwapTrack(
        player.video, source=args.source, options=LiveOptions(smoothing=args.smooth)
    )
    outputs = Outputs(args)
    sink = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facestream-sink")
    loop = asyncio.get_running_loop()
    try:
        while not outputs.quit:
            try:
                frame = await swapped.recv()
            except MediaStreamError:
                log.info("the camera stopped sending video")
                break
            await loop.run_in_executor(sink, outputs.send, frame)
    finally:
        swapped.stop()
        player.video.stop()
        await loop.run_in_executor(sink, outputs.close)
        sink.shutdown()
        stats = swapped.stats
        log.info(
            "%d frames, %.1f fps, latency p50 %.1f ms p95 %.1f ms, %d dropped",
            stats.frames_out,
            stats.fps,
            stats.latency_p50_ms,
            stats.latency_p95_ms,
            stats.dropped,
        )


def run(args: argparse.Namespace) -> int:
    if not (args.preview or args.virtual_cam or args.record):
        raise UserError("choose at least one output: --preview, --virtual-cam or --record.")
    if not args.source.is_file():
        raise UserError(f"the source photo {args.source} does not exist.")
    if args.record is not None:
        refuse_existing(args.record, args.overwrite)  # before the camera opens
    if args.preview and sys.platform.startswith("linux"):
        # OpenCV's Qt window aborts the whole process without a display; say so first.
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise UserError(
                "cannot open a preview window: no display (DISPLAY is not set); use "
                "--virtual-cam or --record instead."
            )
    try:
        asyncio.run(swap_webcam(args))
    except KeyboardInterrupt:
        pass
    return 0
