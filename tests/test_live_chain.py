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
from facestream.stream.frames import Frame
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
    with pytest.raises(UserError, match=r"No face was found in the source photo blank\.png"):
        LiveChain().set_source(np.full((300, 300, 3), 90, np.uint8), "blank.png")


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
