"""`--only-like`: the identity descriptor, the per-track decision stage, the CLI wiring."""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from facestream.filters.face_match import (
    MATCH_THRESHOLD,
    FaceDescriptor,
    FaceMatchStage,
    descriptor_distance,
    face_descriptor,
    reference_descriptor,
)
from facestream.filters.shape import Similarity, to_frame
from facestream.models.engine import FaceLandmarks
from facestream.models.landmarks import MEAN_SHAPE
from facestream.stream import cli_swap
from facestream.stream.errors import UserError
from facestream.stream.frames import Frame

CANVAS = 256  # px, side of a synthetic face's canonical texture


def face_texture(person: int) -> np.ndarray:
    """A synthetic person: a skin tone and blurred blobs in a layout of their own."""
    rng = np.random.default_rng(person)
    skin = rng.uniform(60, 230, 3)
    image = np.empty((CANVAS, CANVAS, 3), np.float32)
    image[:] = skin
    for _ in range(60):
        centre = tuple(int(v) for v in rng.integers(0, CANVAS, 2))
        cv2.circle(image, centre, int(rng.integers(3, 14)), (skin * rng.uniform(0.3, 1.2)), -1)
    return np.clip(cv2.GaussianBlur(image, (0, 0), 1.5), 0, 255).astype(np.uint8)


def face_in_frame(
    person: int, scale: float = 1.0, angle: float = 0.0, offset: tuple[float, float] = (60, 40)
) -> tuple[np.ndarray, np.ndarray]:
    """The person's face placed in a 400 x 400 frame at a pose, and its 128 landmarks."""
    c, s = np.cos(angle), np.sin(angle)
    pose = Similarity(scale, np.array([[c, -s], [s, c]]), np.array(offset, np.float64))
    canvas_to_frame = np.hstack([scale * pose.rotation, pose.translation[:, None]])
    image = cv2.warpAffine(face_texture(person), canvas_to_frame, (400, 400))
    return image, to_frame(MEAN_SHAPE * CANVAS, pose)


def test_descriptor_ignores_pose_and_tells_people_apart():
    reference = face_descriptor(*face_in_frame(0))
    turned = face_descriptor(*face_in_frame(0, scale=1.3, angle=0.2, offset=(90, 20)))
    other = face_descriptor(*face_in_frame(1))
    assert descriptor_distance(reference, turned) < MATCH_THRESHOLD
    assert descriptor_distance(reference, other) > MATCH_THRESHOLD
    assert reference.texture.dtype == np.float32
    assert np.isclose(np.linalg.norm(reference.texture), 1.0)


def test_whitening_loads_strictly(tmp_path, monkeypatch):
    from safetensors.numpy import save_file

    from facestream.filters import face_match

    mean, projection = face_match._whitening()
    assert projection.shape == (128, mean.shape[0]) and np.isfinite(projection).all()
    extra = tmp_path / "extra.safetensors"
    save_file({"mean": mean, "projection": projection, "other": mean}, str(extra))
    monkeypatch.setattr(face_match, "WHITENING_PATH", extra)
    face_match._whitening.cache_clear()
    try:
        with pytest.raises(ValueError, match="not mean and projection"):
            face_match._whitening()
    finally:
        face_match._whitening.cache_clear()


# --- the per-track decision, with descriptors chosen by the test --------------------------

LIKE = FaceDescriptor(np.array([1, 0], np.float32), np.zeros(2, np.float32))
UNLIKE = FaceDescriptor(np.array([0, 1], np.float32), np.zeros(2, np.float32))


def face(track_id: int, like: bool) -> FaceLandmarks:
    """A face whose points say which descriptor the test's `describe` returns."""
    points = np.full((128, 2), 1.0 if like else 0.0, np.float32)
    return FaceLandmarks(track_id, points, np.ones(128, np.float32), np.zeros(4, np.float32))


def frame(index: int, *faces: FaceLandmarks) -> Frame:
    f = Frame(pts=index, time_base=None, index=index, faces=list(faces))
    f.image = np.zeros((8, 8, 3), np.uint8)
    return f


def stage(decide_frames: int = 3) -> FaceMatchStage:
    return FaceMatchStage(
        LIKE,
        threshold=0.5,
        decide_frames=decide_frames,
        describe=lambda image, points: LIKE if points[0, 0] else UNLIKE,
    )


def kept(frames: list[Frame]) -> list[list[int]]:
    return [[f.track_id for f in fr.faces] for fr in frames]


def test_frames_wait_for_the_decision_then_keep_it():
    s = stage(decide_frames=3)
    assert s.process(frame(0, face(7, like=True))) == []
    assert s.process(frame(1, face(7, like=True))) == []
    out = s.process(frame(2, face(7, like=True)))
    assert [f.index for f in out] == [0, 1, 2] and kept(out) == [[7], [7], [7]]
    # Decided: later frames that look unlike (a turned head, a hand) do not change it.
    out = s.process(frame(3, face(7, like=False)))
    assert [f.index for f in out] == [3] and kept(out) == [[7]]


def test_the_decision_is_on_the_mean_of_the_first_frames():
    s = stage(decide_frames=3)
    faces = [face(1, like=False), face(1, like=True), face(1, like=False)]
    out = [f for i, fc in enumerate(faces) for f in s.process(frame(i, fc))]
    assert kept(out) == [[], [], []]  # mostly unlike: dropped in every frame


def test_several_faces_in_one_frame_are_decided_apart():
    s = stage(decide_frames=2)
    out = s.process(frame(0, face(1, like=True), face(2, like=False)))
    out += s.process(frame(1, face(1, like=True), face(2, like=False)))
    out += s.process(frame(2, face(2, like=False), face(1, like=True)))
    assert kept(out) == [[1], [1], [1]]


def test_a_face_coming_back_is_decided_again():
    s = stage(decide_frames=2)
    out = s.process(frame(0, face(1, like=True)))
    out += s.process(frame(1, face(1, like=True)))
    out += s.process(frame(2))  # the face left
    out += s.process(frame(3, face(5, like=True)))  # back, with a new track id
    out += s.process(frame(4, face(5, like=True)))
    assert kept(out) == [[1], [1], [], [5], [5]]
    assert set(s._tracks) == {5}  # ended tracks are forgotten


def test_a_short_track_is_decided_when_it_ends_or_at_flush():
    s = stage(decide_frames=5)
    out = s.process(frame(0, face(1, like=True)))
    out += s.process(frame(1, face(2, like=False)))  # track 1 ended after one frame
    assert kept(out) == [[1]]
    out += s.flush()
    assert kept(out) == [[1], []] and [f.index for f in out] == [0, 1]
    s.reset()
    assert s.flush() == []


# --- the command line -------------------------------------------------------------------


def swap_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_swap.add_arguments(parser)
    return parser.parse_args(["in.mp4", "out.mp4", *argv])


def test_option_parses_and_needs_a_source(tmp_path):
    assert swap_args().only_like is None
    assert swap_args("--only-like", "me.jpg").only_like == Path("me.jpg")
    with pytest.raises(UserError, match=r"^--only-like .* give --source as well\.$"):
        cli_swap.build_stages(swap_args("--only-like", "me.jpg"))
    photo = tmp_path / "s.png"
    cv2.imwrite(str(photo), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match=r"^the --only-like reference photo nobody\.jpg does not"):
        cli_swap.build_stages(swap_args("--source", str(photo), "--only-like", "nobody.jpg"))


def test_reference_without_a_face_is_one_sentence(tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 128, np.uint8))
    argv = ("--source", str(blank), "--only-like", str(blank), "--weights", "none")
    with pytest.raises(UserError) as err:
        cli_swap.build_stages(swap_args(*argv))
    assert str(err.value) == f"No face was found in the reference photo {blank}."


def test_reference_with_two_faces_is_one_sentence(tmp_path):
    two = tmp_path / "two.png"
    cv2.imwrite(str(two), np.zeros((8, 8, 3), np.uint8))
    landmark_fn = lambda image: [MEAN_SHAPE * 200, MEAN_SHAPE * 200 + 250]  # noqa: E731
    with pytest.raises(ValueError, match=r"^The reference photo .*two\.png shows 2 faces;"):
        reference_descriptor(two, landmark_fn)


# --- real clips ---------------------------------------------------------------------------


def first_frames(path: Path, count: int, start: int = 0) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[start : start + count]


@pytest.mark.data
def test_same_person_in_another_clip_matches_and_others_do_not(shared_data, tmp_path):
    from facestream.filters.face_match import mean_descriptor
    from facestream.models.hrnet import default_weights_path
    from facestream.stream.live_chain import EngineLandmarks

    if not default_weights_path("hrnet128_lite").is_file():
        pytest.skip("needs the shipped hrnet128_lite weights")
    videos = shared_data / "videos"
    aoc = "sadtalker/WDA_AlexandriaOcasioCortez_000.mp4"
    reference = tmp_path / "aoc.png"
    still = first_frames(videos / aoc, 1)[0]
    cv2.imwrite(str(reference), cv2.cvtColor(still, cv2.COLOR_RGB2BGR))
    landmarks = EngineLandmarks(weights="default")
    wanted = reference_descriptor(reference, landmarks)
    match = FaceMatchStage(wanted)

    def tracked(clip: str, start: int = 0) -> list[Frame]:
        landmarks.engine.reset()  # the face leaves; coming back it gets a new track id
        frames = []
        for i, image in enumerate(first_frames(videos / clip, 5, start)):
            f = Frame(pts=i, time_base=None, index=i, faces=landmarks.engine.track(image))
            f.image = image
            frames.append(f)
        return frames

    def faces_kept(clip: str, start: int = 0) -> list[int]:
        out = []
        for f in tracked(clip, start):
            out += match.process(f)
        out += match.flush()
        assert len(out) == 5
        return [len(f.faces) for f in out]

    def distance(clip: str) -> float:
        frames = tracked(clip)
        described = [face_descriptor(f.image, f.faces[0].points) for f in frames]
        return descriptor_distance(wanted, mean_descriptor(described))

    # The same face two seconds later is kept; other people are dropped.
    assert faces_kept(aoc, start=60) == [1] * 5
    assert faces_kept("sadtalker/WDA_KatieHill_000.mp4") == [0] * 5
    assert faces_kept("liveportrait/d3.mp4") == [0] * 5
    # The same woman in a clip of another source (checked by eye) sits near the threshold
    # (bench/face_match.py), so here only her ranking is asserted: closer than the others.
    same = distance("retalking/3.mp4")
    assert same < distance("sadtalker/WDA_KatieHill_000.mp4")
    assert same < distance("liveportrait/d3.mp4")
