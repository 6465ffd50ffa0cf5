"""End to end: `facestream swap` on a generated clip of a real face, with the shipped weights.

The clip is scikit-image's astronaut photo, panned and zoomed over 24 frames, with an AAC
tone; the source is the same photo mirrored and recoloured (scikit-image ships no other
adult face large enough to enroll).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import _write_tone

from facestream.filters.provenance import PROVENANCE_KEY, PROVENANCE_VALUE
from facestream.models.hrnet import default_weights_path
from facestream.stream.cli import main

skimage_data = pytest.importorskip("skimage.data")

WEIGHTS = default_weights_path("hrnet128_lite")
needs_weights = pytest.mark.skipif(
    not WEIGHTS.is_file(), reason=f"no trained landmark weights shipped yet ({WEIGHTS})"
)
SIZE = (320, 240)  # width, height of the clip
FRAMES = 24
TIME_BASE = Fraction(1, 25)
# The astronaut's face in her 512 x 512 photo (x0, y0, x1, y1), by eye.
FACE = (150, 40, 270, 200)


def astronaut_view(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``i``: a window on the photo that pans right and zooms in, and the 2x3 affine
    from photo to frame pixels."""
    photo = skimage_data.astronaut()
    scale = 1.0 + 0.01 * i
    shift = (-60 - 2 * i, -10 - i)
    affine = np.array([[scale, 0, shift[0] * scale], [0, scale, shift[1] * scale]], np.float32)
    image = cv2.warpAffine(photo, affine, SIZE, flags=cv2.INTER_LINEAR)
    return image, affine


def write_face_clip(path: Path) -> Path:
    """The moving-astronaut clip with one AAC audio stream (one second of a tone)."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        video.time_base = video.codec_context.time_base = TIME_BASE
        audio = container.add_stream("aac", rate=48000)
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(astronaut_view(i)[0], format="rgb24")
            frame.pts, frame.time_base = i, TIME_BASE
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        _write_tone(container, audio, 440.0)
    return path


def write_source_photo(path: Path) -> Path:
    """The astronaut mirrored, with red and blue exchanged: another face to paste in.

    Enlarged 2x: her eyes are 44 px apart in the photo, enrollment asks for 80.
    """
    photo = skimage_data.astronaut()[:, ::-1, ::-1]
    photo = cv2.resize(photo, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(path), photo[:, :, ::-1])  # OpenCV writes BGR
    return path


def decode(path: Path) -> tuple[list[int], list[np.ndarray], bytes, dict[str, str]]:
    """Video pts, RGB frames, the audio packets' bytes and the container metadata."""
    with av.open(str(path)) as container:
        pts, images = [], []
        for frame in container.decode(video=0):
            pts.append(frame.pts)
            images.append(frame.to_ndarray(format="rgb24"))
    with av.open(str(path)) as container:
        audio = b"".join(
            bytes(p) for s in container.streams.audio[:1] for p in container.demux(s) if p.size
        )
        metadata = dict(container.metadata)
    return pts, images, audio, metadata


def face_box_in_frame(i: int, pad: int = 0) -> tuple[int, int, int, int]:
    """The face rectangle in frame ``i``'s pixels, grown by ``pad``."""
    _, affine = astronaut_view(i)
    (x0, y0), (x1, y1) = (
        affine[:, :2] @ np.array(c, np.float32) + affine[:, 2] for c in (FACE[:2], FACE[2:])
    )
    return int(x0) - pad, int(y0) - pad, int(x1) + pad, int(y1) + pad


@needs_weights
def test_swap_changes_the_face_and_keeps_the_rest(tmp_path, capsys):
    clip = write_face_clip(tmp_path / "clip.mp4")
    source = write_source_photo(tmp_path / "source.png")
    out = tmp_path / "out.mp4"
    plain = tmp_path / "plain.mp4"  # the same encoder settings without a swap

    assert (
        main(["swap", str(clip), str(out), "--source", str(source), "--preset", "ultrafast"]) == 0
    )
    assert main(["swap", str(clip), str(plain), "--preset", "ultrafast"]) == 0
    capsys.readouterr()

    pts_in, _, audio_in, _ = decode(clip)
    pts_out, swapped, audio_out, metadata = decode(out)
    _, kept, _, plain_metadata = decode(plain)
    assert pts_out == pts_in and len(swapped) == FRAMES
    assert audio_out == audio_in and len(audio_out) > 0
    assert metadata.get(PROVENANCE_KEY) == PROVENANCE_VALUE
    assert PROVENANCE_KEY not in plain_metadata  # only a swap is marked
    changed_faces = 0
    for i, (a, b) in enumerate(zip(swapped, kept, strict=True)):
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
        x0, y0, x1, y1 = face_box_in_frame(i)
        face = diff[max(y0, 0) : y1, max(x0, 0) : x1]
        # The source is this face mirrored: with its colour and lighting matched to the
        # target (filters/colour.py), only the mirrored features differ, by more than 20
        # levels over about 21 % of the box (28 % before the lighting match).
        changed_faces += float((face > 20).mean()) > 0.1
        # Far from the face (outside the face box grown by half its size) nothing changes
        # beyond the encoder's noise.
        outside = np.ones(diff.shape, bool)
        gx0, gy0, gx1, gy1 = face_box_in_frame(i, pad=(x1 - x0) // 2)
        outside[max(gy0, 0) : gy1, max(gx0, 0) : gx1] = False
        assert np.percentile(diff[outside], 99) <= 12, f"frame {i} changed away from the face"
    assert changed_faces >= FRAMES - 2, f"the face changed in only {changed_faces} frames"


def test_demo_clip_enlarged_keeps_timing(tmp_path):
    from facestream.stream.cli_demo import enlarged_clip

    clip = write_face_clip(tmp_path / "clip.mp4")
    big = enlarged_clip(clip, tmp_path / "big.mp4", 2)
    pts_in, frames_in, _, _ = decode(clip)
    pts_out, frames_out, _, _ = decode(big)
    assert pts_out == pts_in
    assert frames_out[0].shape == (2 * SIZE[1], 2 * SIZE[0], 3)
    small = cv2.resize(frames_out[5], SIZE, interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - frames_in[5]).mean() < 3  # the same picture
