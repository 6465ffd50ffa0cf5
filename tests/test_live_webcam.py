"""`facestream webcam` without a camera: every missing piece is one clear sentence."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from facestream.filters.provenance import PROVENANCE_KEY, PROVENANCE_VALUE
from facestream.stream.cli import main
from facestream.stream.errors import UserError
from facestream.stream.webcam import Recorder, VirtualCamera, open_camera


@pytest.fixture
def face(tmp_path: Path) -> Path:
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), np.full((64, 64, 3), 128, np.uint8))
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2 device names")
def test_missing_camera_is_one_sentence(tmp_path: Path, face: Path) -> None:
    missing = tmp_path / "video9"
    with pytest.raises(UserError, match=r"cannot open the camera .*video9 \(v4l2\): No such file"):
        open_camera(str(missing), "640x480", 30)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "facestream"),
            "webcam",
            "--device",
            str(missing),
            "--source",
            str(face),
            "--record",
            str(tmp_path / "out.mp4"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot open the camera" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_outputs_and_source_are_checked_first(face: Path, tmp_path: Path) -> None:
    assert main(["webcam", "--source", str(face)]) == 2  # no output chosen
    assert main(["webcam", "--source", str(tmp_path / "nope.jpg"), "--preview"]) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland check")
def test_preview_without_a_display_is_one_sentence(
    face: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["webcam", "--source", str(face), "--preview"]) == 2
    assert "no display (DISPLAY is not set)" in capsys.readouterr().err


def test_missing_virtual_camera_driver_is_one_sentence() -> None:
    pytest.importorskip("pyvirtualcam", reason="the [webcam] extra is not installed")
    if list(Path("/dev").glob("video*")):
        pytest.skip("a video device exists here; the no-driver path cannot be shown")
    with pytest.raises(UserError, match="no virtual camera device is available"):
        VirtualCamera(64, 48, 30)


def test_recorder_keeps_timing_and_renames_when_done(tmp_path: Path) -> None:
    out = tmp_path / "rec.mp4"
    recorder = Recorder(out, 64, 48, Fraction(1, 1000))
    for i in range(10):
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), "rgb24")
        frame.pts, frame.time_base = 5000 + i * 33, Fraction(1, 1000)
        recorder.write(frame)
    assert recorder.partial.exists() and not out.exists()
    recorder.close()
    assert out.exists() and not recorder.partial.exists()
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        times = [float(f.pts * f.time_base) for f in container.decode(stream)]
        tags = dict(container.metadata)
    assert tags[PROVENANCE_KEY] == PROVENANCE_VALUE  # a recording of the swap says so
    assert len(times) == 10
    assert times[0] == pytest.approx(0, abs=1e-3) and times[-1] == pytest.approx(0.297, abs=2e-3)
    with pytest.raises(UserError, match="MP4"):
        Recorder(tmp_path / "rec.avi", 64, 48, Fraction(1, 1000))


def test_a_clip_standing_in_for_the_camera_is_swapped_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import itertools

    from facestream.demo.client import moving_face_frames
    from facestream.demo.examples import example_image
    from facestream.stream import webcam

    clip = tmp_path / "camera.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        head = example_image("carphone")[60:620, 150:640]
        for image in itertools.islice(moving_face_frames(head, 320, 240, 240, 0.3), 45):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    source = tmp_path / "astronaut.png"
    cv2.imwrite(str(source), example_image("astronaut")[:, :, ::-1])
    # The platform's camera format is replaced by the clip's container format.
    monkeypatch.setattr(webcam, "capture_format", lambda: ("mp4", str(clip)))
    out = tmp_path / "sent.mp4"
    assert main(["webcam", "--source", str(source), "--record", str(out)]) == 0
    with av.open(str(out)) as container:
        sent = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(clip)) as container:
        camera = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert 10 <= len(sent) <= 45 and sent[0].shape == (240, 320, 3)
    # Swapped: the face box differs from every camera frame, even the best-matching one.
    centre = (slice(60, 180), slice(100, 220))
    diff = min(np.abs(sent[5][centre].astype(int) - c[centre]).mean() for c in camera)
    assert diff > 8, diff
    # A second run does not replace the recording unless told to.
    assert main(["webcam", "--source", str(source), "--record", str(out)]) == 2
