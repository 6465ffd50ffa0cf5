"""LiveChain: toggles, pass-through, enrollment errors, and a swap on a moving face."""

from __future__ import annotations

import itertools
from fractions import Fraction

import av
import numpy as np
import pytest

from facestream.demo.client import moving_face_frames
from facestream.demo.examples import example_image
from facestream.stream.errors import UserError
from facestream.stream.frames import Frame, to_rgb
from facestream.stream.live_chain import (
    LIVE_MODEL,
    EngineLandmarks,
    LiveChain,
    LiveOptions,
    TemplateLandmarks,
    default_landmarks,
)


def frames(count: int) -> list[Frame]:
    images = moving_face_frames(example_image("carphone"), 320, 240, face_height=200)
    out = []
    for i, image in enumerate(itertools.islice(images, count)):
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        video_frame.pts, video_frame.time_base = i * 3000, Fraction(1, 90000)
        out.append(Frame.from_av(video_frame, index=i))
    return out


def test_options_validate() -> None:
    options = LiveOptions()
    assert options.updated({"swap": False, "smoothing": "off"}) == LiveOptions(False, False, "off")
    for bad in ({"swap": "yes"}, {"smoothing": "fixed-lag"}, {"volume": 3}):
        with pytest.raises(ValueError):
            options.updated(bad)


def test_without_source_or_toggles_frames_pass_untouched() -> None:
    chain = LiveChain(options=LiveOptions(swap=True, overlay=False))
    frame = frames(1)[0]
    out = chain.process(frame)
    assert not out.has_pixels and out.to_av() is frame.source


def test_a_photo_without_a_face_is_one_sentence() -> None:
    with pytest.raises(UserError, match=r"no face was found in the source photo blank\.png"):
        LiveChain().set_source(np.full((300, 300, 3), 90, np.uint8), "blank.png")


def test_a_source_given_at_start_is_warned_about_as_on_the_command_line(warnings) -> None:
    # The astronaut example is a small face enlarged: soft by enrollment's measure.
    LiveChain(example_image("astronaut"))
    assert "the face in the source photo (uploaded) is soft" in warnings.text


def test_swap_changes_the_face_and_overlay_and_smoothing_toggle() -> None:
    chain = LiveChain(example_image("astronaut"))
    clip = frames(8)
    originals = [f.image for f in frames(8)]
    outs = [chain.process(f) for f in clip[:6]]
    for out, original in zip(outs, originals, strict=False):
        assert out.faces, "no face found in the moving clip"
        x0, y0, x1, y1 = np.asarray(out.faces[0].box, int)
        diff = np.abs(out.image.astype(int) - original.astype(int))[y0:y1, x0:x1].mean()
        assert diff > 8, diff  # the face region changed
        assert np.array_equal(out.image[:20, :20], original[:20, :20])  # the background did not
    chain.set_options({"swap": False, "overlay": True, "smoothing": "off"})
    overlay = chain.process(clip[6])
    assert overlay.has_pixels and not np.array_equal(overlay.image, originals[6])
    chain.set_options({"overlay": False})
    assert not chain.process(clip[7]).has_pixels


def test_the_engine_is_used_when_its_weights_are_shipped() -> None:
    from facestream.models.hrnet import default_weights_path

    expected = EngineLandmarks if default_weights_path(LIVE_MODEL).is_file() else TemplateLandmarks
    assert isinstance(default_landmarks(), expected)


def test_engine_landmarks_feed_tracked_faces_to_the_chain() -> None:
    from facestream.models.engine import FaceLandmarks, LandmarkEngine

    # Random weights: the wiring (tracking, shapes, smoothing, overlay), not the accuracy.
    engine = LandmarkEngine(LIVE_MODEL, weights=None, min_confidence=0.0)
    chain = LiveChain(options=LiveOptions(overlay=True), landmarks=EngineLandmarks(engine))
    outs = [chain.process(f) for f in frames(3)]
    assert [[face.track_id for face in f.faces] for f in outs] == [[0], [0], [0]]
    face = outs[-1].faces[0]
    assert isinstance(face, FaceLandmarks) and face.points.shape == (128, 2)
    assert face.points.dtype == np.float32 and all(f.has_pixels for f in outs)


def test_decoded_yuv_frames_stay_yuv_and_swap_like_rgb_frames() -> None:
    """Frames as aiortc's VP8 decoder gives them (yuv420p, limited range): the chain writes
    only face boxes into them, and the result matches the chain's output on the same
    frames in RGB to the conversion's rounding: no tint from a matrix or range mismatch."""
    yuv_chain = LiveChain(example_image("astronaut"))
    rgb_chain = LiveChain(example_image("astronaut"))
    for frame in frames(5):
        decoded = frame.source.reformat(format="yuv420p")
        decoded.pts, decoded.time_base = frame.pts, frame.time_base
        decoded.color_range = 1  # MPEG (limited), as the VP8 decoder tags its frames
        luma = decoded.to_ndarray()[:240].copy()
        rgb = av.VideoFrame.from_ndarray(to_rgb(decoded), format="rgb24")
        rgb.pts, rgb.time_base = frame.pts, frame.time_base
        out_yuv = yuv_chain.process(Frame.from_av(decoded, frame.index))
        out_rgb = rgb_chain.process(Frame.from_av(rgb, frame.index))
        assert out_yuv.faces and not out_yuv.has_pixels
        sent = out_yuv.to_av()
        assert sent.format.name == "yuv420p" and sent.pts == frame.pts
        x0, y0, x1, y1 = np.asarray(out_rgb.faces[0].box, int)
        # Away from the face (left of its box, beyond the compositor's padding) the sent
        # frame is the decoded one, bit for bit.
        left = x0 - (x1 - x0) // 2
        assert left > 8
        assert np.array_equal(sent.to_ndarray()[:240, :left], luma[:, :left])
        # Read back with swscale, which rounds down by about a level (so does the encoder's
        # conversion of an RGB frame). Measured: the patch writer with the BT.709 matrix
        # instead of 601 casts the face by (-2.0, -1.8, -0.2) levels, with the full range
        # instead of the limited one by (+1.8, -0.5, -2.1); as it is, (-0.7, -1.1, -0.8).
        ours, ref = to_rgb(sent).astype(int), out_rgb.image.astype(int)
        face = np.s_[y0:y1, x0:x1]
        offset = (ours[face] - ref[face]).reshape(-1, 3).mean(axis=0)
        assert np.all(np.abs(offset) < 1.5), offset
        assert np.ptp(offset) < 0.6, offset  # no cast of one channel against the others
        assert np.percentile(np.abs(ours - ref), 99) <= 3
        original = frame.image.astype(int)[face]
        assert np.abs(ours[face] - original).mean() > 8  # and the face was swapped
