"""The video-file path: frames, timestamps, audio bytes and metadata survive a swap run."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.stream import Disposition

from facestream.stream.errors import UserError
from facestream.stream.file_io import EncoderOptions, available_codecs
from facestream.stream.frames import Frame
from facestream.stream.transcode import transcode

FAST = EncoderOptions(preset="ultrafast")


def probe(path: Path) -> dict:
    """Frame times, first-frame metadata, and every copied stream's packets (bytes and time)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        decoded = list(container.decode(video))
        others = [s.index for s in container.streams if s.type != "video"]
    packets: dict[int, list[tuple[bytes, Fraction]]] = {}
    if others:
        with av.open(str(path)) as container:
            streams = [container.streams[i] for i in others]
            for packet in container.demux(*streams):
                if packet.size:
                    time = packet.pts * packet.time_base
                    packets.setdefault(packet.stream.index, []).append((bytes(packet), time))
    first = decoded[0]
    return {
        "times": [f.pts * f.time_base for f in decoded],
        "size": (first.width, first.height),
        "rotation": first.rotation,
        "colour": (first.color_range, first.colorspace, first.color_primaries, first.color_trc),
        "audio": list(packets.values()),
        "frames": decoded,
    }


def assert_same_timing_and_audio(src: Path, dst: Path) -> dict:
    a, b = probe(src), probe(dst)
    assert len(b["times"]) == len(a["times"])
    assert b["times"] == a["times"]
    assert b["size"] == a["size"]
    assert len(b["audio"]) == len(a["audio"])
    for packets_in, packets_out in zip(a["audio"], b["audio"], strict=True):
        assert packets_out == packets_in  # same bytes at the same times
    return b


CODEC_CASES = [
    ("libx264", "in.mp4", "ultrafast"),
    ("libx265", "in.mp4", "ultrafast"),
    ("libvpx-vp9", "in.webm", "realtime"),
]


@pytest.mark.parametrize(("codec", "name", "preset"), CODEC_CASES, ids=[c[0] for c in CODEC_CASES])
def test_round_trip_keeps_frames_and_pts_across_codecs(make_video, tmp_path, codec, name, preset):
    src = make_video(name, codec=codec, pts=range(12))
    out = tmp_path / f"out{Path(name).suffix}"
    options = EncoderOptions(codec=codec, preset=preset)
    report = transcode(src, out, options=options, progress=False)
    assert report.frames == 12 and report.damaged == 0
    assert_same_timing_and_audio(src, out)


def test_odd_size_survives(make_video, tmp_path):
    src = make_video("odd.webm", codec="libvpx-vp9", size=(641, 359), pts=range(5))
    out = tmp_path / "odd.mp4"
    transcode(src, out, options=FAST, progress=False)
    assert probe(out)["size"] == (641, 359)
    assert_same_timing_and_audio(src, out)


def test_variable_frame_rate_survives(make_video, tmp_path):
    pts = [0, 40, 45, 120, 300, 310, 333, 1000, 1001, 1500]
    src = make_video("vfr.mp4", pts=pts, time_base=Fraction(1, 1000))
    out = tmp_path / "out.mp4"
    transcode(src, out, options=FAST, progress=False)
    result = assert_same_timing_and_audio(src, out)
    assert result["times"] == [Fraction(t, 1000) for t in pts]


@pytest.mark.parametrize("audio", [(), ("aac",), ("aac", "libopus")], ids=["none", "aac", "two"])
def test_audio_packets_are_copied_byte_for_byte(make_video, tmp_path, audio):
    src = make_video("a.mkv", pts=range(25), audio=audio)
    out = tmp_path / "out.mkv"
    report = transcode(src, out, options=FAST, progress=False)
    assert report.copied_streams == len(audio)
    result = assert_same_timing_and_audio(src, out)
    assert len(result["audio"]) == len(audio)


def test_rotation_and_colour_tags_are_kept(make_video, tmp_path):
    colour = {"color_range": 2, "colorspace": 1, "color_primaries": 1, "color_trc": 1}
    src = make_video("rot.mp4", rotation=90, colour=colour, audio=("aac",))
    out = tmp_path / "out.mp4"
    transcode(src, out, options=FAST, progress=False)
    a, b = probe(src), probe(out)
    assert a["rotation"] == 90 and b["rotation"] == 90
    assert a["colour"] == (2, 1, 1, 1) and b["colour"] == a["colour"]


def test_a_container_that_drops_the_rotation_says_so(make_video, tmp_path, warnings):
    src = make_video("rot.mp4", rotation=90, pts=range(3))
    transcode(src, tmp_path / "out.mkv", options=FAST, progress=False)
    assert "rotation" not in warnings.text
    transcode(src, tmp_path / "out.avi", options=FAST, progress=False)
    assert probe(tmp_path / "out.avi")["rotation"] == 0  # AVI has no place for it
    assert "a .avi file cannot hold the input's rotation (90°)" in warnings.text


def test_pixel_format_follows_the_input(make_video, tmp_path):
    src = make_video("444.mp4", pix_fmt="yuv444p", size=(64, 48))
    out = tmp_path / "out.mp4"
    transcode(src, out, options=FAST, progress=False)
    assert probe(out)["frames"][0].format.name == "yuv444p"


class Invert:
    def process(self, frame: Frame) -> Frame:
        frame.image = 255 - frame.image
        return frame


class Untouched:
    def __init__(self) -> None:
        self.touched: list[bool] = []

    def process(self, frame: Frame) -> Frame:
        self.touched.append(frame.has_pixels)
        return frame


def test_a_stage_that_changes_pixels_reaches_the_output(make_video, tmp_path):
    colour = {"color_range": 1, "colorspace": 1, "color_primaries": 1, "color_trc": 1}
    src = make_video("in.mp4", colour=colour, pts=range(4))
    out = tmp_path / "out.mp4"
    transcode(src, out, [Invert()], EncoderOptions(crf=0, preset="ultrafast"), progress=False)
    before = [f.to_ndarray(format="rgb24").astype(int) for f in probe(src)["frames"]]
    after = [f.to_ndarray(format="rgb24").astype(int) for f in probe(out)["frames"]]
    for x, y in zip(before, after, strict=True):
        # Chroma subsampling blurs the gradient's edges; the bulk must be inverted.
        assert np.median(np.abs(255 - x - y)) <= 3


def test_identity_stages_never_convert_pixels(make_video, tmp_path):
    stage = Untouched()
    transcode(make_video(pts=range(6)), tmp_path / "out.mp4", [stage], FAST, progress=False)
    assert stage.touched == [False] * 6


@pytest.mark.parametrize("earlier", [None, b"the last complete result"], ids=["new", "replaced"])
def test_interrupted_run_leaves_no_file(make_video, tmp_path, earlier):
    class Interrupt:
        def process(self, frame: Frame) -> Frame:
            if frame.index == 3:
                raise KeyboardInterrupt
            return frame

    out = tmp_path / "out.mp4"
    if earlier is not None:
        out.write_bytes(earlier)  # an earlier output stays as it was
    src = make_video(pts=range(20), audio=("aac",))
    with pytest.raises(KeyboardInterrupt):
        transcode(src, out, [Interrupt()], FAST, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"] + ["out.mp4"] * bool(earlier)
    assert earlier is None or out.read_bytes() == earlier


def test_an_existing_output_is_refused_unless_overwrite(make_video, tmp_path):
    out = tmp_path / "out.mp4"
    out.symlink_to(tmp_path / "gone.mp4")  # even a broken link: replacing it would remove it
    with pytest.raises(UserError, match="already exists; add --overwrite"):
        transcode(make_video(pts=range(3)), out, options=FAST, overwrite=False)
    assert transcode(make_video(pts=range(3)), out, options=FAST).frames == 3


def test_truncated_file_decodes_what_it_can(make_video, tmp_path):
    src = make_video(
        "full.mp4",
        pts=range(60),
        size=(160, 120),
        audio=("aac",),
        options={"movflags": "+faststart"},
    )
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: int(src.stat().st_size * 0.6)])
    report = transcode(cut, tmp_path / "out.mp4", options=FAST, progress=False)
    assert 0 < report.frames < 60
    assert report.damaged == 60 - report.frames
    assert len(probe(tmp_path / "out.mp4")["times"]) == report.frames


@pytest.mark.cuda
@pytest.mark.skipif(
    "h264_nvenc" not in available_codecs() or not Path("/dev/nvidiactl").exists(),
    reason="needs an NVIDIA GPU and a PyAV build with h264_nvenc",
)
def test_nvenc(make_video, tmp_path):
    src = make_video(pts=range(8))
    transcode(src, tmp_path / "out.mp4", options=EncoderOptions(codec="h264_nvenc"), progress=False)
    assert_same_timing_and_audio(src, tmp_path / "out.mp4")


SHARED_CLIPS = ["retalking/1.mp4", "spectre/QoT0S2vu9m4_00002.mp4"]


@pytest.mark.data
@pytest.mark.parametrize("clip", SHARED_CLIPS)
def test_swap_on_shared_clips_keeps_frames_pts_and_audio(shared_data, tmp_path, capsys, clip):
    from facestream.stream.cli import main

    src = shared_data / "videos" / clip
    if not src.is_file():
        pytest.skip(f"{src} is absent")
    out = tmp_path / "out.mp4"
    assert main(["--quiet", "swap", str(src), str(out), "--preset", "ultrafast"]) == 0
    result = assert_same_timing_and_audio(src, out)
    assert result["audio"], "these clips carry audio"


def with_subtitles(video: Path, out: Path) -> Path:
    """Remux ``video`` with a two-cue SubRip stream into ``out`` (a .mkv)."""
    srt = out.with_suffix(".srt")
    srt.write_text(
        "1\n00:00:00,000 --> 00:00:00,200\nhello\n\n2\n00:00:00,240 --> 00:00:00,360\nworld\n"
    )
    with av.open(str(video)) as v, av.open(str(srt)) as s, av.open(str(out), "w") as o:
        # Every stream must exist before the first packet writes the header.
        targets = [o.add_stream_from_template(src.streams[0]) for src in (v, s)]
        for src, target in zip((v, s), targets, strict=True):
            for packet in src.demux(src.streams[0]):
                if packet.dts is not None:
                    packet.stream = target
                    o.mux(packet)
    return out


def test_subtitles_are_copied_where_the_container_allows(make_video, tmp_path, warnings):
    src = with_subtitles(make_video(pts=range(10)), tmp_path / "subs.mkv")
    kept = transcode(src, tmp_path / "out.mkv", options=FAST, progress=False)
    assert kept.copied_streams == 1
    assert_same_timing_and_audio(src, tmp_path / "out.mkv")  # subtitle packets included
    dropped = transcode(src, tmp_path / "out.mp4", options=FAST, progress=False)
    assert dropped.copied_streams == 0 and dropped.frames == 10
    assert "dropped subtitle stream" in warnings.text


def test_progress_bar_counts_frames(make_video, tmp_path, capsys):
    transcode(make_video(pts=range(7)), tmp_path / "out.mp4", options=FAST, progress=True)
    assert "7/7" in capsys.readouterr().err


def retagged(src: Path, out: Path) -> Path:
    """Remux ``src`` into ``out`` with a title, a creation time, per-stream languages and
    the second stream (audio) as the only default one."""
    with av.open(str(src)) as i, av.open(str(out), "w") as o:
        o.metadata.update({"title": "Talk", "creation_time": "2024-05-01T10:00:00.000000Z"})
        targets = {}
        for stream in i.streams:
            target = o.add_stream_from_template(stream)
            target.metadata["language"] = "fra" if stream.type == "video" else "eng"
            target.disposition = Disposition.default if stream.type == "audio" else 0
            targets[stream.index] = target
        for packet in i.demux():
            if packet.dts is not None:
                packet.stream = targets[packet.stream.index]
                o.mux(packet)
    return out


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_title_creation_time_languages_and_default_flags_are_kept(make_video, tmp_path, suffix):
    src = retagged(make_video(pts=range(5), audio=("aac",)), tmp_path / f"tagged{suffix}")
    out = tmp_path / f"out{suffix}"
    transcode(src, out, options=EncoderOptions(preset="ultrafast", provenance=True))
    with av.open(str(out)) as container:
        tags = {k.lower(): v for k, v in container.metadata.items()}
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert tags["title"] == "Talk" and tags["creation_time"].startswith("2024-05-01")
        assert tags["comment"].startswith("This video contains a synthetic face swap")
        assert "encoder" not in tags or "Lavf" in tags["encoder"]
        assert video.metadata["language"] == "fra" and audio.metadata["language"] == "eng"
        assert audio.disposition & Disposition.default


@pytest.mark.parametrize("suffix", [".ts", ".mkv"])
def test_audio_goes_into_a_container_whose_muxer_lists_no_codecs(make_video, tmp_path, suffix):
    # FFmpeg's MPEG-TS muxer answers no codec query (PyAV then lists only its defaults, mp2
    # and mpeg2video), yet it holds AAC; Matroska, which answers, is the control.
    src = make_video(pts=range(8), audio=("aac",))
    report = transcode(src, tmp_path / f"out{suffix}", options=FAST)
    assert report.copied_streams == 1 and report.frames == 8
    # Both muxers may offset every timestamp (no negative times; MPEG-TS's start delay) and
    # MPEG-TS puts a 7-byte ADTS header before each AAC packet: the payloads are compared.
    [audio_in], [audio_out] = probe(src)["audio"], probe(tmp_path / f"out{suffix}")["audio"]
    assert len(audio_out) == len(audio_in)
    assert all(out.endswith(data) for (out, _), (data, _) in zip(audio_out, audio_in, strict=True))


def test_audio_that_mpeg_ts_would_keep_as_data_is_refused(make_video, tmp_path):
    # FFmpeg writes PCM into MPEG-TS as a private data stream: the file had no sound.
    src = make_video("pcm.mov", pts=range(4), audio=("pcm_s16le",))
    with pytest.raises(UserError, match="a .ts file cannot hold the input's pcm_s16le audio"):
        transcode(src, tmp_path / "out.ts", options=FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pcm.mov"]


def stored_rate_and_slots(path: Path) -> tuple[Fraction | None, Fraction | None, list[Fraction]]:
    """The video stream's announced rates and each packet's stored decoding time."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        times = [p.dts * p.time_base for p in container.demux(video) if p.size]
        return video.average_rate, video.guessed_rate, times


@pytest.mark.parametrize("suffix", [".avi", ".mkv", ".mov", ".mp4"])
@pytest.mark.parametrize("rate", [Fraction(25), Fraction(30000, 1001)], ids=["25", "29.97"])
def test_the_output_announces_the_inputs_frame_rate(make_video, tmp_path, suffix, rate):
    # An .avi stream's rate is its clock (one tick a frame); it once read 600 fps.
    src = make_video("in.mp4", pts=range(30), time_base=1 / rate)
    out = tmp_path / f"out{suffix}"
    report = transcode(src, out, options=FAST, progress=False)
    assert report.frames == 30
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert b.duration == a.duration
        (video_in,), (video_out,) = a.streams.video, b.streams.video
        assert video_out.average_rate == video_in.average_rate == rate
        assert video_out.guessed_rate == rate
        assert len(list(b.decode(video_out))) == 30
    if suffix in (".mov", ".mp4"):  # Matroska counts in milliseconds, AVI in frames
        assert_same_timing_and_audio(src, out)


def test_variable_frame_rate_into_avi_keeps_frames_on_their_slots(make_video, tmp_path, warnings):
    # AVI stores no timestamps: a frame's time is its position at the stream's rate, and a
    # gap is an empty slot. Frames on the 25 fps grid keep their times exactly.
    pts = [0, 1, 2, 4, 5, 8, 9, 10, 14, 15]
    src = make_video("vfr.mp4", pts=pts)
    out = tmp_path / "out.avi"
    assert transcode(src, out, options=FAST, progress=False).frames == 10
    average, guessed, slots = stored_rate_and_slots(out)
    assert (average, guessed) == (25, 25)
    assert slots == [Fraction(t, 25) for t in pts]
    assert len(probe(out)["frames"]) == 10
    assert "rounded" not in warnings.text


def test_avi_frames_off_the_grid_are_rounded_with_a_warning(tmp_path, warnings):
    # A 25 fps Matroska file (millisecond clock) with two frames 10 ms off the grid and two
    # 5 ms apart.
    src = tmp_path / "jitter.mkv"
    with av.open(str(src), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for t in [0, 40, 90, 120, 160, 165, 240]:
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), t, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out = tmp_path / "out.avi"
    assert transcode(src, out, options=FAST, progress=False).frames == 7
    _, guessed, slots = stored_rate_and_slots(out)
    assert guessed == 25
    # Nearest slot, or the next free one: 90 ms -> 0.08 s, and 165 ms -> 0.2 s after 0.16 s.
    assert slots == [Fraction(n, 25) for n in (0, 1, 2, 3, 4, 5, 6)]
    assert warnings.text.count("keeps no per-frame timestamps") == 1
