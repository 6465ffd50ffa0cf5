"""Video files in and out with PyAV: a threaded decoder and an encoder that keeps everything else.

The reader decodes the first video stream and hands every other packet (audio, subtitles,
data) to a callback untouched; the writer encodes frames with the pts and time_base they
arrive with and remuxes the other packets, so timing, audio bytes, rotation and colour tags
survive the trip.
"""

from __future__ import annotations

import logging
import re
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.format import Flags
from av.stream import Disposition
from av.video.frame import PictureType
from av.video.stream import VideoStream

from facestream.filters.provenance import provenance_for
from facestream.stream.errors import UserError
from facestream.stream.frames import Frame

log = logging.getLogger(__name__)

PacketSink = Callable[[av.Packet], None]


@dataclass(frozen=True)
class CodecDefaults:
    """How one encoder spells quality and speed, and its default values."""

    crf: int
    preset: str
    quality_option: str  # the encoder option that takes --crf
    preset_option: str  # the encoder option that takes --preset
    crf_max: int  # --crf goes from 0 to this
    presets: tuple[str, ...]  # what --preset takes
    extra: tuple[tuple[str, str], ...] = ()


_X26X_PRESETS = tuple(
    "ultrafast superfast veryfast faster fast medium slow slower veryslow placebo".split()
)
_NVENC_PRESETS = tuple(
    [f"p{i}" for i in range(1, 8)]
    + "default slow medium fast hp hq bd ll llhq llhp lossless losslesshp".split()
)

CODECS: dict[str, CodecDefaults] = {
    "libx264": CodecDefaults(23, "medium", "crf", "preset", 51, _X26X_PRESETS),
    "libx265": CodecDefaults(
        28, "medium", "crf", "preset", 51, _X26X_PRESETS, (("x265-params", "log-level=error"),)
    ),
    # VP9 reaches constant quality only with a zero target bitrate; its speed knob is
    # "deadline" (good, best, realtime).
    "libvpx-vp9": CodecDefaults(
        32,
        "good",
        "crf",
        "deadline",
        63,
        ("realtime", "good", "best"),
        (("b", "0"), ("row-mt", "1")),
    ),
    "h264_nvenc": CodecDefaults(23, "p4", "cq", "preset", 51, _NVENC_PRESETS, (("rc", "vbr"),)),
}


def available_codecs() -> list[str]:
    """The encoders of ``CODECS`` that this PyAV build contains."""
    return [name for name in CODECS if name in av.codecs_available]


@dataclass(frozen=True)
class EncoderOptions:
    """Video encoder settings; ``None`` takes the codec's default from ``CODECS``."""

    codec: str = "libx264"
    crf: int | None = None
    preset: str | None = None
    # Mark the container as synthetic media (facestream.filters.provenance): on whenever
    # a face swap was applied.
    provenance: bool = False

    def check(self) -> None:
        """Raise a ``UserError`` for a codec, ``crf`` or ``preset`` the encoder does not take
        (the encoder itself would say only "Invalid argument", once the model has loaded)."""
        if self.codec not in CODECS:
            raise UserError(f"unknown codec {self.codec}; choose one of {', '.join(CODECS)}.")
        if self.codec not in av.codecs_available:
            raise UserError(f"this PyAV build has no {self.codec} encoder.")
        defaults = CODECS[self.codec]
        if self.crf is not None and not 0 <= self.crf <= defaults.crf_max:
            raise UserError(
                f"--crf for {self.codec} goes from 0 to {defaults.crf_max} (lower is better), "
                f"not {self.crf}."
            )
        if self.preset is not None and self.preset not in defaults.presets:
            raise UserError(
                f"--preset for {self.codec} is one of {', '.join(defaults.presets)}; "
                f"not {self.preset}."
            )

    def codec_options(self) -> dict[str, str]:
        defaults = CODECS[self.codec]
        options = dict(defaults.extra)
        options[defaults.quality_option] = str(defaults.crf if self.crf is None else self.crf)
        options[defaults.preset_option] = self.preset or defaults.preset
        return options


def check_input(path: Path) -> None:
    """Raise a ``UserError`` unless ``path`` is a local, non-empty file (what it is inside is
    the reader's to find out)."""
    if not path.exists():
        # A Path keeps one slash of "https://": put the second back for the sentence.
        url = re.fullmatch(r"([A-Za-z][\w+.-]+):/([^/].*)", str(path))
        if url:
            raise UserError(
                f"{url[1]}://{url[2]} is a URL; this command reads local files "
                "(download it first; facestream batch reads URLs)."
            )
        raise UserError(f"{path} does not exist.")
    if not path.is_file():
        raise UserError(f"{path} is not a file.")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty (0 bytes).")


class VideoReader:
    """Decodes the first video stream of a file; forwards every other packet untouched.

    Opening decodes the first frame, so its geometry, pixel format, rotation and colour tags
    are known before the writer is set up. Packets of the other streams met on the way are
    held until ``forward_packets_to`` names their destination.

    Example:
        >>> reader = VideoReader(Path("in.mp4"))  # doctest: +SKIP
        >>> for frame in reader.frames(): ...  # doctest: +SKIP
    """

    def __init__(self, path: Path) -> None:
        check_input(path)
        try:
            # Absolute: FFmpeg would read "a:b.mp4" as the "a" protocol's URL.
            self.container = av.open(str(path.absolute()))
        except av.error.FFmpegError as exc:
            raise UserError(f"{path} is not a readable media file ({exc.strerror}).") from exc
        # FFmpeg reads a photo as a one-frame video: "image2" or a "<codec>_pipe" demuxer;
        # and a .txt file as a video of its text drawn on a terminal ("tty").
        kind = self.container.format.name
        if kind == "image2" or kind.endswith("_pipe") or kind == "tty":
            self.container.close()
            what = "a text file" if kind == "tty" else "a still image"
            raise UserError(f"{path} is {what}, not a video.")
        if not self.container.streams.video:
            self.container.close()
            raise UserError(f"{path} has no video stream.")
        self.path = path
        videos = self.container.streams.video
        # Cover art is stored as a one-picture video stream; the movie is the other one.
        movies = [v for v in videos if not v.disposition & Disposition.attached_pic]
        self.video = (movies or list(videos))[0]
        self.video.thread_type = "AUTO"
        for other in videos:
            if other is not self.video:
                log.warning(
                    "ignored video stream %d: only one video stream is processed", other.index
                )
        self.copied_streams = [
            s
            for s in self.container.streams
            if s.type in ("audio", "subtitle", "data") and s is not self.video
        ]
        self.decoded = 0  # frames handed out, damaged ones included
        self.decode_errors = 0  # packets the decoder rejected
        self.corrupt_frames = 0  # frames the decoder flagged as concealed
        self.read_error: str | None = None  # why demuxing stopped early, if it did
        self._held: list[av.Packet] = []
        self._forward: PacketSink = self._held.append
        self._decoded = self._decode_all()
        self.first_frame = next(self._decoded, None)
        if self.first_frame is None:
            self.container.close()
            raise UserError(f"{path} contains no decodable video frame.")

    @property
    def expected_frames(self) -> int | None:
        """The frame count the container announces, when it announces one."""
        return self.video.frames or None

    @property
    def damaged_frames(self) -> int:
        """Frames that could not be decoded, were concealed, or are missing from the file."""
        missing = 0
        if self.expected_frames is not None:
            missing = max(0, self.expected_frames - self.decoded - self.decode_errors)
        return self.decode_errors + self.corrupt_frames + missing

    def forward_packets_to(self, sink: PacketSink) -> None:
        """Send the other streams' packets (held ones first) to ``sink`` from now on."""
        for packet in self._held:
            sink(packet)
        self._held.clear()
        self._forward = sink

    def frames(self) -> Iterator[Frame]:
        """Yield every decodable frame in order, wrapped as ``Frame`` with index 0, 1, ..."""
        first, self.first_frame = self.first_frame, None
        if first is None:
            raise RuntimeError("VideoReader.frames() can be iterated only once")
        yield Frame.from_av(first, 0)
        for index, video_frame in enumerate(self._decoded, start=1):
            yield Frame.from_av(video_frame, index)

    def _decode_all(self) -> Iterator[av.VideoFrame]:
        demuxer = self.container.demux(self.video, *self.copied_streams)
        while True:
            try:
                packet = next(demuxer)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                # A corrupt container: keep what was decoded, flush the decoder, stop.
                self.read_error = exc.strerror
                yield from self._decode_packet(None)
                return
            if packet.stream.index != self.video.index:
                if packet.dts is not None:  # the demuxer's empty end-of-stream packets have none
                    self._forward(packet)
                continue
            # An empty video packet at the end flushes the decoder.
            yield from self._decode_packet(packet)

    def _decode_packet(self, packet: av.Packet | None) -> Iterator[av.VideoFrame]:
        try:
            decoded = self.video.decode(packet)
        except av.error.EOFError:
            return
        except av.error.FFmpegError:
            self.decode_errors += 1
            return
        for video_frame in decoded:
            self.decoded += 1
            if video_frame.is_corrupt:
                self.corrupt_frames += 1
            yield video_frame

    def close(self) -> None:
        self.container.close()


def display_matrix(video_frame: av.VideoFrame) -> list[int] | None:
    """The frame's display matrix (rotation and flips) as FFmpeg's nine int32, if any."""
    if "DISPLAYMATRIX" not in video_frame.side_data:
        return None
    # PyAV's stub types frame side data as a TypedDict that lacks this key.
    side_data = video_frame.side_data["DISPLAYMATRIX"]  # type: ignore[typeddict-item]
    return list(struct.unpack("=9i", bytes(side_data)))


# Tags that describe the input's muxer, encoder or encoded bytes (Matroska's statistics),
# not the content: the re-encoded output writes its own.
_WRITER_TAGS = {
    "major_brand",
    "minor_version",
    "compatible_brands",
    "encoder",
    "bps",
    "duration",
    "number_of_frames",
    "number_of_bytes",
}


def _own_tags(metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` without the tags that describe how the input file was written."""
    return {
        key: value
        for key, value in metadata.items()
        if key.lower() not in _WRITER_TAGS and not key.startswith("_STATISTICS_")
    }


# The audio codecs that MPEG-TS carries as audio (its muxer answers no codec query).
_TS_AUDIO = {"aac", "aac_latm", "mp2", "mp3", "ac3", "eac3", "opus", "dts", "truehd"}

# The muxers that store a display matrix (rotation): MP4/QuickTime's family and Matroska.
# Others (AVI, MPEG-TS...) drop it without a word.
_KEEP_ROTATION = {"mp4", "mov", "ipod", "3gp", "3g2", "psp", "ismv", "f4v", "matroska", "webm"}


def choose_pix_fmt(codec: str, input_format: str, width: int, height: int) -> str:
    """The input's pixel format when the encoder takes it, else the encoder's 4:2:0 default.

    x264, x265 and NVENC refuse odd sizes with subsampled chroma; such frames go to 4:4:4
    rather than losing a row or column.
    """
    supported = [f.name for f in av.Codec(codec, "w").video_formats or ()]
    choice = input_format if input_format in supported else "yuv420p"
    if choice not in supported:
        choice = supported[0]
    odd = width % 2 or height % 2
    fmt = av.VideoFormat(choice, width, height)
    subsampled = (
        len(fmt.components) > 1
        and fmt.components[1].width * fmt.components[1].height < width * height
    )
    if odd and subsampled and codec in ("libx264", "libx265", "h264_nvenc"):
        return "yuv444p"
    return choice


class VideoWriter:
    """Encodes frames into a new file and remuxes the reader's other streams into it.

    Thread-safe for one thread calling ``write`` while another calls ``mux_copy``.
    """

    def __init__(self, path: Path, reader: VideoReader, options: EncoderOptions) -> None:
        first = reader.first_frame
        if first is None:
            raise RuntimeError("the reader's first frame is gone; make the writer before reading")
        options.check()
        self.path = path
        self._lock = threading.Lock()
        metadata: dict[str, str] = {}
        muxer_options: dict[str, str] = {}
        if options.provenance:
            metadata, muxer_options = provenance_for(path.suffix)
        try:
            self.container = av.open(str(path.absolute()), "w", options=muxer_options)
        except av.error.FFmpegError as exc:
            raise UserError(f"cannot write {path} ({exc.strerror}).") from exc
        # The input's tags (title, creation time, location...), then the provenance marks.
        self.container.metadata.update(_own_tags(reader.container.metadata))
        self.container.metadata.update(metadata)
        try:
            self._add_video(reader, first, options)
            self._copies = self._add_copies(reader)
            self._write_header()
        except BaseException:
            self.container.close()
            raise
        self.frames_written = 0
        self._last_slot: int | None = None
        self._off_grid = False  # whether a frame's time had to move (warned once)

    def _add_video(
        self, reader: VideoReader, first: av.VideoFrame, options: EncoderOptions
    ) -> None:
        source = reader.video
        # A container without per-frame timestamps (AVI: a frame's time is its position)
        # counts time in frames: its stream runs at the real frame rate, one tick a frame.
        self.grid: Fraction | None = None
        if Flags.variable_fps not in Flags(self.container.format.flags):
            self.grid = source.guessed_rate or source.average_rate or Fraction(25)
        rate = self.grid or source.average_rate or source.guessed_rate or 25
        try:
            stream = self.container.add_stream(options.codec, rate=rate)
            assert isinstance(stream, VideoStream)
        except ValueError:
            raise UserError(
                f"a {self.path.suffix} file cannot hold {options.codec} video; "
                "choose another --codec or output extension."
            ) from None
        stream.width = first.width
        stream.height = first.height
        stream.pix_fmt = choose_pix_fmt(options.codec, first.format.name, first.width, first.height)
        # Elsewhere the encoder counts in the input's time base, so each pts passes through
        # unchanged.
        time_base = source.time_base if self.grid is None else 1 / self.grid
        assert time_base is not None, "a demuxed stream always has a time base"
        stream.time_base = stream.codec_context.time_base = time_base
        context = stream.codec_context
        if self.grid is not None:
            # Such a container stores the decoding order only: reordered (B) frames would
            # read back with their times out of order.
            context.max_b_frames = 0
        context.color_range = first.color_range
        context.color_primaries = first.color_primaries
        context.color_trc = first.color_trc
        context.colorspace = first.colorspace
        if source.sample_aspect_ratio:
            context.sample_aspect_ratio = source.sample_aspect_ratio
        context.options = options.codec_options()
        stream.metadata.update(_own_tags(source.metadata))
        stream.disposition = source.disposition
        matrix = display_matrix(first)
        if matrix is not None:
            stream.set_display_matrix(matrix)
            if self.container.format.name not in _KEEP_ROTATION and first.rotation:
                log.warning(
                    "a %s file cannot hold the input's rotation (%d°): players will show the "
                    "video turned; use .mp4, .mov or .mkv to keep it",
                    self.path.suffix,
                    first.rotation,
                )
        try:
            context.open()
        except av.error.FFmpegError as exc:
            hint = "; it needs an NVIDIA GPU and driver" if "nvenc" in options.codec else ""
            raise UserError(
                f"the {options.codec} encoder could not start with these settings "
                f"({exc.strerror}){hint}."
            ) from exc
        self.video = stream

    def _add_copies(self, reader: VideoReader) -> dict[int, av.stream.Stream]:
        copies = {}
        supported = self.container.supported_codecs
        # A muxer that answers no codec query (MPEG-TS) is listed with only its default
        # codecs, so the list does not even hold the video codec just added: FFmpeg then
        # decides when the header is written.
        listed = self.video.codec_context.codec.canonical_name in supported
        # MPEG-TS takes any other audio too, as a private data stream: the sound is lost.
        ts_audio = _TS_AUDIO if self.container.format.name == "mpegts" else None
        for source in reader.copied_streams:
            name = source.codec_context.name if source.codec_context else None
            if name is not None and (
                (listed and name not in supported)
                or (ts_audio is not None and source.type == "audio" and name not in ts_audio)
            ):
                if source.type == "audio":
                    raise UserError(
                        f"a {self.path.suffix} file cannot hold the input's {name} audio "
                        "without re-encoding; choose another output extension (e.g. .mkv)."
                    )
                log.warning(
                    "dropped %s stream %d (%s): the output container cannot hold it",
                    source.type,
                    source.index,
                    name,
                )
                continue
            try:
                copy = self.container.add_stream_from_template(source)
            except (av.error.FFmpegError, ValueError) as exc:
                if source.type == "audio":
                    raise UserError(f"cannot copy audio stream {source.index}: {exc}.") from exc
                log.warning("dropped %s stream %d: %s", source.type, source.index, exc)
                continue
            # The template carries the codec only: language, title and default flag too.
            copy.metadata.update(source.metadata)
            copy.disposition = source.disposition
            copies[source.index] = copy
        return copies

    def _write_header(self) -> None:
        """Write the header now, so a muxer that refuses a stream says so before any work."""
        try:
            self.container.start_encoding()
        except av.error.FFmpegError:
            streams = ", ".join(
                f"{s.codec_context.codec.canonical_name} {s.type}" for s in self.container.streams
            )
            raise UserError(
                f"a {self.path.suffix} file cannot hold these streams ({streams}); "
                "choose another --codec or output extension (e.g. .mkv)."
            ) from None

    def mux_copy(self, packet: av.Packet) -> None:
        """Remux a packet of a copied stream as it is (no re-encoding)."""
        target = self._copies.get(packet.stream.index)
        if target is None:
            return
        packet.stream = target
        with self._lock:
            self.container.mux(packet)

    def write(self, frame: Frame) -> None:
        """Encode one frame with its own pts and time_base."""
        video_frame = frame.to_av()
        if video_frame.format.name != self.video.pix_fmt:
            context = self.video.codec_context
            converted = video_frame.reformat(
                format=self.video.pix_fmt,
                dst_colorspace=context.colorspace or None,
                dst_color_range=context.color_range or None,
            )
            converted.pts, converted.time_base = video_frame.pts, video_frame.time_base
            video_frame = converted
        # The decoder's picture types would force the encoder's I/P/B decisions.
        video_frame.pict_type = PictureType.NONE
        if self.grid is not None:
            video_frame.pts, video_frame.time_base = self._on_grid(video_frame), 1 / self.grid
        packets = self.video.encode(video_frame)
        with self._lock:
            self.container.mux(packets)
        self.frames_written += 1

    def _on_grid(self, video_frame: av.VideoFrame) -> int:
        """The frame's slot on the container's frame-rate grid: its time rounded to the
        nearest frame, or the slot after the previous frame's if that one is taken. Gaps stay
        empty slots (a player holds the previous frame), so durations and frame count hold."""
        assert self.grid is not None
        after = -1 if self._last_slot is None else self._last_slot
        if video_frame.pts is None or video_frame.time_base is None:
            self._last_slot = after + 1
            return self._last_slot
        exact = video_frame.pts * video_frame.time_base * self.grid
        slot = max(round(exact), after + 1)
        # A quarter of a frame: more than any rounding of a steady rate's timestamps.
        if abs(slot - exact) > Fraction(1, 4) and not self._off_grid:
            self._off_grid = True
            log.warning(
                "a %s file keeps no per-frame timestamps: the frame times were rounded to a "
                "steady %.4g fps (use .mkv or .mp4 to keep them exactly)",
                self.path.suffix,
                float(self.grid),
            )
        self._last_slot = slot
        return slot

    @property
    def copied_stream_count(self) -> int:
        return len(self._copies)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        packets = self.video.encode(None)
        with self._lock:
            self.container.mux(packets)
        self.container.close()

    def abort(self) -> None:
        """Close the file without flushing (the caller deletes it)."""
        try:
            self.container.close()
        except av.error.FFmpegError:
            pass
