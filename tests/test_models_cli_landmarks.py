"""`facestream landmarks`: JSON per frame (and an overlay video) from a made-up clip."""

import json
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from facestream.stream.cli import main

skimage_data = pytest.importorskip("skimage.data")


def _clip(path, frames=4, shift=2):
    face = skimage_data.astronaut()[:256, 96:352]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(face, shift * i, axis=1), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_video_to_json_and_overlay(tmp_path, capsys):
    clip, js, overlay = tmp_path / "clip.mp4", tmp_path / "out.json", tmp_path / "ov.mp4"
    _clip(clip)
    args = ["landmarks", str(clip), "--json", str(js), "--overlay", str(overlay)]
    assert main(args + ["--weights", "none", "--min-confidence", "0", "--device", "cpu"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"-> {js} and {overlay}")  # both named
    frames = json.loads(js.read_text())["frames"]
    assert [f["frame"] for f in frames] == [0, 1, 2, 3]
    times = [f["pts"] * Fraction(f["time_base"]) for f in frames]
    assert times == [Fraction(i, 10) for i in range(4)]  # the decoded timing, kept
    for f in frames:
        assert [face["track_id"] for face in f["faces"]] == [0]
        assert len(f["faces"][0]["points"]) == 128 and len(f["faces"][0]["confidence"]) == 128
    with av.open(str(overlay)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 4


def test_missing_weights_is_one_clear_error(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    _clip(clip, frames=1)
    code = main(["landmarks", str(clip), "--json", str(tmp_path / "o.json"), "--weights",
                 str(tmp_path / "nope.safetensors")])  # fmt: skip
    assert code != 0
    assert "nope.safetensors does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_smoothing_changes_the_points_but_keeps_every_frame(tmp_path):
    clip = tmp_path / "clip.mp4"
    _clip(clip, frames=8, shift=9)  # moves enough for random weights' points to jump
    common = ["--weights", "none", "--min-confidence", "0", "--device", "cpu"]
    runs = {}
    for mode in ("off", "fixed-lag"):
        js = tmp_path / f"{mode}.json"
        torch.manual_seed(0)  # the same random weights, hence the same raw points, in both runs
        assert main(["landmarks", str(clip), "--json", str(js), "--smooth", mode, *common]) == 0
        runs[mode] = json.loads(js.read_text())
    assert runs["off"]["smooth"] == {"mode": "off", "strength": 1.0}
    off, smoothed = runs["off"]["frames"], runs["fixed-lag"]["frames"]
    # The look-ahead holds frames back but releases each one, in order, with its timing.
    assert [(f["frame"], f["pts"], f["time_base"]) for f in smoothed] == [
        (f["frame"], f["pts"], f["time_base"]) for f in off
    ]
    assert [len(f["faces"]) for f in smoothed] == [len(f["faces"]) for f in off]
    moved = [
        np.abs(np.subtract(s["faces"][0]["points"], o["faces"][0]["points"])).max()
        for s, o in zip(smoothed, off, strict=True)
    ]
    # Both runs see the same raw points (same seed), so any difference is the smoother's;
    # random weights with the decode blur move little, hence a small threshold.
    assert max(moved) > 0.1  # pixels


def test_bad_smoothing_strength_is_one_clear_error(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    _clip(clip, frames=1)
    js = tmp_path / "o.json"
    code = main(["landmarks", str(clip), "--json", str(js), "--smooth-strength", "0",
                 "--weights", "none"])  # fmt: skip
    assert code != 0
    assert "strength must be positive" in capsys.readouterr().err
    assert not js.exists()


def test_existing_outputs_are_refused_without_overwrite(tmp_path, capsys):
    clip, js, overlay = tmp_path / "clip.mp4", tmp_path / "out.json", tmp_path / "ov.mp4"
    _clip(clip, frames=2)
    common = ["--weights", "none", "--min-confidence", "0", "--device", "cpu"]
    js.write_text("earlier")
    assert main(["landmarks", str(clip), "--json", str(js), *common]) == 2
    assert f"{js} already exists; add --overwrite (or -y)" in capsys.readouterr().err
    assert js.read_text() == "earlier"
    overlay.write_bytes(b"earlier")
    args = ["landmarks", str(clip), "--json", str(js), "--overlay", str(overlay), "-y"]
    assert main([*args, *common]) == 0
    assert json.loads(js.read_text())["frames"] and overlay.read_bytes() != b"earlier"


def test_a_folder_as_the_json_is_one_sentence(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    _clip(clip, frames=1)
    (tmp_path / "folder").mkdir()
    assert main(["landmarks", str(clip), "--json", str(tmp_path / "folder"), "-y"]) == 2
    assert "is a folder; give a file name." in capsys.readouterr().err
