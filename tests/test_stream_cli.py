"""The facestream command: one clear sentence and a non-zero exit for bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from facestream.stream import cli_swap
from facestream.stream.cli import COMMANDS, main
from facestream.stream.errors import UserError


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(["--quiet", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_swap_writes_the_output(make_video, tmp_path, capsys):
    src = make_video(pts=range(5), audio=("aac",))
    out = tmp_path / "out.mp4"
    code, err = run_cli(capsys, "swap", str(src), str(out), "--preset", "ultrafast")
    assert code == 0 and err == ""
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video[0].frames == 5
        assert len(container.streams.audio) == 1


@pytest.mark.parametrize("flag", ["--overwrite", "-y"])
def test_an_existing_output_is_replaced_only_when_asked(make_video, tmp_path, capsys, flag):
    src, out = make_video(pts=range(3)), tmp_path / "out.mp4"
    out.write_bytes(b"an earlier result")
    argv = ["swap", str(src), str(out), "--preset", "ultrafast"]
    code, err = run_cli(capsys, *argv)
    assert code == 2
    assert (
        err == f"facestream: error: {out} already exists; add --overwrite (or -y) to replace it.\n"
    )
    assert out.read_bytes() == b"an earlier result"
    assert run_cli(capsys, *argv, flag) == (0, "")
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames == 3


def test_overwrite_may_come_before_the_command(make_video, tmp_path, capsys):
    src, out = make_video(pts=range(3)), tmp_path / "out.mp4"
    out.write_bytes(b"an earlier result")
    assert run_cli(capsys, "-y", "swap", str(src), str(out), "--preset", "ultrafast") == (0, "")
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames == 3


def test_overwrite_before_a_command_that_writes_nothing(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["-y", "serve"])
    assert stop.value.code == 2
    assert "serve writes no file to replace" in capsys.readouterr().err


def test_paths_are_checked_before_the_model_loads(make_video, tmp_path, capsys, monkeypatch):
    def no_model(args):
        raise AssertionError("the stages were built")

    monkeypatch.setattr(cli_swap, "build_stages", no_model)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier result")
    code, err = run_cli(capsys, "swap", str(make_video()), str(out), "--source", "face.jpg")
    assert code == 2 and "already exists" in err
    code, err = run_cli(capsys, "swap", str(tmp_path / "nope.mp4"), str(tmp_path / "o.mp4"))
    assert code == 2 and "nope.mp4 does not exist" in err


def test_the_demo_refuses_an_earlier_result(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    out.write_bytes(b"an earlier demo")
    code, err = run_cli(capsys, "demo", "--output", str(out))
    assert code == 2 and f"{out} already exists; add --overwrite" in err
    (tmp_path / "carphone_x3.mp4").write_bytes(b"an earlier enlarged clip")
    code, err = run_cli(capsys, "demo", "--output", str(tmp_path / "new.mp4"), "--scale", "3")
    assert code == 2 and f"{tmp_path / 'carphone_x3.mp4'} already exists" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["carphone_x3.mp4", "demo.mp4"]


def test_the_demo_tells_a_bad_output_name_before_any_work(tmp_path, capsys):
    from facestream.stream.cli_demo import demo_clip

    try:
        demo_clip()
    except UserError as exc:  # the demo extra is not installed
        pytest.skip(f"needs the demo extra: {exc}")
    # It enlarged the clip (carphone_x2.mp4) before the swap found the name wrong.
    code, err = run_cli(capsys, "demo", "--output", str(tmp_path / "demo.xyz"), "--scale", "2")
    assert code == 2 and "cannot tell a video format from the name demo.xyz" in err
    assert list(tmp_path.iterdir()) == []


def test_names_with_a_colon_are_files_not_urls(make_video, tmp_path, capsys, monkeypatch):
    # FFmpeg read "take:2.mp4" as a URL of a "take" protocol (relative names only).
    monkeypatch.chdir(tmp_path)
    make_video("take:1.mp4", pts=range(3))
    assert run_cli(capsys, "swap", "take:1.mp4", "take:2.mkv", "--preset", "ultrafast") == (0, "")
    with av.open(str(tmp_path / "take:2.mkv")) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_missing_input(tmp_path, capsys):
    code, err = run_cli(capsys, "swap", str(tmp_path / "nope.mp4"), str(tmp_path / "o.mp4"))
    assert code == 2 and "does not exist" in err and err.count("\n") == 1


def test_a_url_is_not_a_local_file(tmp_path, capsys):
    code, err = run_cli(capsys, "swap", "https://example.com/talk.mp4", str(tmp_path / "o.mp4"))
    assert code == 2 and "https://example.com/talk.mp4 is a URL;" in err


@pytest.mark.parametrize(
    ("name", "sentence"),
    [("notes.mp4", "is not a readable media file"), ("notes.txt", "is a text file, not a video")],
)
def test_not_media(tmp_path, capsys, name, sentence):
    # FFmpeg reads a .txt file as a video of its text on a terminal: it made 3 frames.
    text = tmp_path / name
    text.write_text("this is not a video\n" * 50)
    code, err = run_cli(capsys, "swap", str(text), str(tmp_path / "o.mp4"))
    assert code == 2 and sentence in err
    assert not (tmp_path / "o.mp4").exists()


def test_empty_input(tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    code, err = run_cli(capsys, "swap", str(empty), str(tmp_path / "o.mp4"))
    assert code == 2 and "is empty (0 bytes)" in err


@pytest.mark.parametrize("name", ["photo.jpg", "photo.png", "photo_named.mp4"])
def test_a_photo_is_not_a_video(tmp_path, capsys, name):
    photo = tmp_path / name
    ok, data = cv2.imencode(".png" if "png" in name else ".jpg", np.zeros((48, 64, 3), np.uint8))
    photo.write_bytes(data.tobytes())
    code, err = run_cli(capsys, "swap", str(photo), str(tmp_path / "o.mp4"))
    assert code == 2 and "is a still image, not a video" in err
    assert not (tmp_path / "o.mp4").exists()


def test_no_video_stream(tmp_path, capsys):
    audio_only = tmp_path / "sound.m4a"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    code, err = run_cli(capsys, "swap", str(audio_only), str(tmp_path / "o.mp4"))
    assert code == 2 and "no video stream" in err


def test_truncated_input_reports_damage(make_video, tmp_path, capsys):
    src = make_video("full.mp4", pts=range(40), size=(96, 64), options={"movflags": "+faststart"})
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    code, err = run_cli(capsys, "swap", str(cut), str(tmp_path / "o.mp4"))
    assert code == 3 and "is damaged" in err and "frame(s) could not be decoded" in err
    assert (tmp_path / "o.mp4").exists()


def test_truncated_input_without_index(make_video, tmp_path, capsys):
    src = make_video("full.mp4", pts=range(40))  # index (moov) at the end: cut away
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    code, err = run_cli(capsys, "swap", str(cut), str(tmp_path / "o.mp4"))
    assert code == 2 and "not a readable media file" in err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("where", ["missing_folder", "file_as_folder", "folder"])
def test_unwritable_output(make_video, tmp_path, capsys, where):
    src = make_video()
    (tmp_path / "afile").write_text("x")
    target = {
        "missing_folder": tmp_path / "no" / "such" / "o.mp4",
        "file_as_folder": tmp_path / "afile" / "o.mp4",
        "folder": tmp_path,
    }[where]
    code, err = run_cli(capsys, "swap", str(src), str(target))
    assert code == 2 and "error:" in err


def test_output_equal_to_input(make_video, capsys):
    src = make_video()
    before = src.read_bytes()
    code, err = run_cli(capsys, "swap", str(src), str(src.parent / "." / src.name))
    assert code == 2 and "is the input file" in err
    assert src.read_bytes() == before


def test_unknown_output_extension(make_video, tmp_path, capsys):
    code, err = run_cli(capsys, "swap", str(make_video()), str(tmp_path / "out.xyz"))
    assert code == 2 and "video format" in err


def test_codec_the_container_cannot_hold(make_video, tmp_path, capsys):
    code, err = run_cli(capsys, "swap", str(make_video()), str(tmp_path / "out.webm"))
    assert code == 2 and "a .webm file cannot hold libx264" in err


@pytest.mark.parametrize("name", ["out.png", "out.jpg"])
def test_a_picture_name_is_not_a_video_output(make_video, tmp_path, capsys, name):
    code, err = run_cli(capsys, "swap", str(make_video()), str(tmp_path / name))
    assert code == 2 and f"{name} names a picture, not a video" in err


def test_streams_the_container_refuses_when_its_header_is_written(make_video, tmp_path, capsys):
    src = make_video(pts=range(5), audio=("aac",))
    code, err = run_cli(capsys, "swap", str(src), str(tmp_path / "o.ogv"))
    assert code == 2 and "file cannot hold these streams (h264 video, aac audio)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


@pytest.mark.parametrize(
    ("flags", "sentence"),
    [
        (["--label"], "--label marks swapped frames; give --source as well."),
        (["--no-swap"], "--no-swap draws only the --overlay; give --overlay as well."),
    ],
    ids=["label", "no-swap"],
)
def test_an_option_that_would_do_nothing(make_video, tmp_path, capsys, flags, sentence):
    code, err = run_cli(capsys, "swap", str(make_video()), str(tmp_path / "o.mp4"), *flags)
    assert code == 2 and err == f"facestream: error: {sentence}\n"


def test_missing_source_face(make_video, tmp_path, capsys):
    argv = ["swap", str(make_video()), str(tmp_path / "o.mp4"), "--source", "nobody.jpg"]
    code, err = run_cli(capsys, *argv)
    assert code == 2 and "source face" in err


def test_source_face_that_is_a_folder(make_video, tmp_path, capsys):
    argv = ["swap", str(make_video()), str(tmp_path / "o.mp4"), "--source", str(tmp_path)]
    code, err = run_cli(capsys, *argv)
    assert code == 2 and f"the source face {tmp_path} is a folder, not a photo." in err


def test_several_source_photos_reach_enrollment_together(make_video, tmp_path, capsys, monkeypatch):
    import facestream.filters.enroll as enroll

    photos = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    for photo in photos:
        photo.write_bytes(b"read by enrollment, stubbed here")
    given = []

    def record(paths, landmark_fn):
        given.append(paths)
        raise enroll.SourceFaceError("stopped after enrollment.")

    monkeypatch.setattr(enroll, "enroll_source", record)
    argv = ["swap", str(make_video()), str(tmp_path / "o.mp4")]
    code, err = run_cli(capsys, *argv, "--source", str(photos[0]), "--source", str(photos[1]))
    assert code == 2 and err == "facestream: error: stopped after enrollment.\n"
    assert given == [photos]


def test_each_source_photo_is_checked(make_video, tmp_path, capsys):
    face = tmp_path / "face.jpg"
    face.write_bytes(b"present")
    argv = ["swap", str(make_video()), str(tmp_path / "o.mp4"), "--source", "nobody.jpg"]
    code, err = run_cli(capsys, *argv, "--source", str(face))
    assert code == 2 and err == "facestream: error: the source face nobody.jpg does not exist.\n"


@pytest.mark.parametrize(
    ("flags", "sentence"),
    [
        (["--threads", "0"], "--threads must be at least 1."),
        (["--device", "gpu"], "unknown --device gpu; use auto, cpu, cuda, cuda:N or mps."),
        pytest.param(
            ["--device", "cuda"],
            "--device cuda: torch finds no cuda device here; use auto.",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present"),
        ),
    ],
    ids=["threads", "unknown-device", "absent-cuda"],
)
def test_engine_settings_this_machine_cannot_run(make_video, tmp_path, capsys, flags, sentence):
    face = tmp_path / "face.jpg"
    face.write_bytes(b"checked later than the engine")
    argv = ["swap", str(make_video()), str(tmp_path / "o.mp4"), "--source", str(face), *flags]
    code, err = run_cli(capsys, *argv)
    assert code == 2 and err == f"facestream: error: {sentence}\n"


def test_an_unknown_option_shows_its_commands_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["swap", "in.mp4", "out.mp4", "--sorce", "face.jpg"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.startswith("usage: facestream swap") and "--source SOURCE" in err
    assert err.endswith("facestream swap: error: unrecognized arguments: --sorce face.jpg\n")


def test_a_terminal_is_told_while_the_model_loads(make_video, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    face = tmp_path / "face.jpg"
    face.write_bytes(b"not a photo: the run stops after the model is loaded")
    code = main(["swap", str(make_video()), str(tmp_path / "o.mp4"), "--source", str(face)])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert lines[0] == "facestream: loading the landmark model and the source face…"


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        main(["--debug", "swap", str(tmp_path / "nope.mp4"), str(tmp_path / "o.mp4")])


def test_console_script_exit_code_and_one_line(tmp_path):
    script = Path(sys.executable).parent / "facestream"
    result = subprocess.run(
        [str(script), "swap", str(tmp_path / "nope.mp4"), str(tmp_path / "o.mp4")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"facestream: error: {tmp_path / 'nope.mp4'} does not exist."
    ]


def test_every_command_module_has_the_interface():
    import importlib

    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments) and callable(module.run), name
        assert module.__doc__, name


def test_demo_runs_on_the_embedded_clip(tmp_path, capsys):
    from facestream.stream.cli_demo import demo_clip

    try:
        demo_clip()
        import skimage  # noqa: F401
    except Exception as exc:  # the demo extra is not installed
        pytest.skip(f"needs the demo extra: {exc}")
    from facestream.models.hrnet import default_weights_path

    if not default_weights_path("hrnet128_lite").is_file():
        pytest.skip("the demo swaps with the trained landmark weights, not shipped yet")
    out = tmp_path / "demo.mp4"
    assert main(["--quiet", "demo", "--output", str(out)]) == 0
    assert f"demo output: {out.resolve()}" in capsys.readouterr().out
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 120
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.mp4"]  # nothing else left
    # `make demo` runs it again with the flag, and warns of nothing the user can change (the
    # demo's own source photo is soft by enrollment's measure).
    assert main(["demo", "--output", str(out), "--overwrite"]) == 0
    assert "soft" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "sentence"),
    [
        (["--preset", "bogus"], "--preset for libx264 is one of ultrafast, superfast"),
        (["--codec", "libvpx-vp9", "--preset", "fast"], "is one of realtime, good, best; not fast"),
        (["--crf", "-5"], "--crf for libx264 goes from 0 to 51 (lower is better), not -5."),
        (["--crf", "100"], "not 100."),  # x264 took it silently, as 51
    ],
)
def test_bad_encoder_setting(make_video, tmp_path, capsys, flags, sentence):
    # The encoder said only "Invalid argument" (or nothing), after the model had loaded.
    argv = ["swap", str(make_video()), str(tmp_path / "o.mkv"), *flags]
    code, err = run_cli(capsys, *argv)
    assert code == 2 and sentence in err
    assert list(tmp_path.glob("*o.*")) == []  # no output, no temporary file left


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_removes_the_unfinished_output(
    make_video, tmp_path, capsys, monkeypatch, name
):
    number = getattr(signal, name)

    class StopAtFrame3:
        def process(self, frame):
            if frame.index == 3:
                os.kill(os.getpid(), number)
                time.sleep(0.5)  # the main thread stops the run before this ends
            return frame

    monkeypatch.setattr(cli_swap, "build_stages", lambda args: [StopAtFrame3()])
    src = make_video(pts=range(40), audio=("aac",))
    out = tmp_path / "o.mp4"
    # As in a terminal, whatever ran before: a background job starts with SIGINT ignored,
    # and other libraries in this process may have taken SIGTERM.
    default = signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL
    outside = signal.signal(number, default)
    try:
        code, err = run_cli(capsys, "swap", str(src), str(out), "--preset", "ultrafast")
        assert signal.getsignal(number) is default  # the command put it back
    finally:
        signal.signal(number, outside)
    assert code == 128 + number
    assert err == "facestream: interrupted; no unfinished output was kept.\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_a_missing_input_is_reported_without_loading_torch():
    # The argument helpers import the filters; torch and filterpy (about 2 s on this
    # machine) load only when a run starts, so a typo is answered at once.
    code = (
        "import sys\n"
        "from facestream.stream.cli import main\n"
        "assert main(['swap', 'nope.mp4', 'out.mp4', '--source', 'me.jpg']) == 2\n"
        "assert 'torch' not in sys.modules and 'filterpy' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "nope.mp4 does not exist." in done.stderr
