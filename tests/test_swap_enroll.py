"""Source enrollment: the best photo is kept, unusable photos get one clear sentence."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facestream.filters.enroll import (
    PoorSourceFaceError,
    SourceFaceError,
    enroll_source,
    eye_distance,
    frontality,
)
from facestream.models.landmarks import MEAN_SHAPE


def face(scale: float, x: float = 20, y: float = 20, yaw_shift: float = 0.0) -> np.ndarray:
    """MEAN_SHAPE in pixels; `yaw_shift` moves the nose and eyes sideways like a head turn."""
    p = np.asarray(MEAN_SHAPE, np.float32).copy()
    centre = p[:, 0].mean()
    # Points near the middle of the face move most, the outline least: a crude turn.
    weight = 1.0 - np.abs(p[:, 0] - centre) / np.abs(p[:, 0] - centre).max()
    p[:, 0] += yaw_shift * weight
    return p * scale + (x, y)


def photo(tmp_path: Path, name: str, size: int = 500) -> Path:
    path = tmp_path / name
    rng = np.random.default_rng(len(name))
    cv2.imwrite(str(path), rng.integers(0, 255, (size, size, 3), np.uint8))
    return path


def test_a_good_photo_is_enrolled(tmp_path):
    src = enroll_source(photo(tmp_path, "a.png"), lambda img: [face(300)])
    assert src.points.shape == (128, 2) and src.points.dtype == np.float32
    assert src.image.dtype == np.uint8 and src.image.shape[2] == 3
    # The crop holds the face with a margin: points lie inside it.
    assert (src.points > 0).all() and (src.points < src.image.shape[1::-1]).all()
    assert src.eye_distance == pytest.approx(eye_distance(face(300)))
    assert src.frontality > 0.9


def test_no_face_is_one_sentence(tmp_path):
    with pytest.raises(SourceFaceError, match=r"^no face was found in the source photo .*\.$"):
        enroll_source(photo(tmp_path, "empty.png"), lambda img: [])


def test_two_faces_are_refused(tmp_path):
    with pytest.raises(SourceFaceError, match="shows 2 faces"):
        enroll_source(photo(tmp_path, "two.png"), lambda img: [face(200), face(200, 250)])


def test_a_small_face_is_refused(tmp_path):
    small = face(100)  # about 53 px between the eyes
    assert eye_distance(small) < 80
    with pytest.raises(PoorSourceFaceError, match="too small"):
        enroll_source(photo(tmp_path, "small.png"), lambda img: [small])


def test_a_turned_face_is_refused(tmp_path):
    turned = face(300, yaw_shift=0.35)
    assert frontality(turned) < 0.2
    with pytest.raises(PoorSourceFaceError, match="turned too far"):
        enroll_source(photo(tmp_path, "turned.png"), lambda img: [turned])


def test_an_unreadable_photo_is_one_sentence(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not an image")
    with pytest.raises(SourceFaceError, match="^cannot read"):
        enroll_source(path, lambda img: [face(300)])


def test_the_best_posed_of_several_photos_is_kept(tmp_path):
    paths = [photo(tmp_path, n) for n in ("small.png", "turned.png", "slight.png", "front.png")]
    by_name = {
        "small.png": face(100),
        "turned.png": face(300, yaw_shift=0.35),
        "slight.png": face(300, yaw_shift=0.08),
        "front.png": face(280),
    }
    calls = iter(paths)

    def landmarks(image: np.ndarray) -> list[np.ndarray]:
        return [by_name[next(calls).name]]

    assert enroll_source(paths, landmarks).path.name == "front.png"


def test_only_poor_photos_raise_the_first_reason(tmp_path):
    paths = [photo(tmp_path, "a.png"), photo(tmp_path, "b.png")]
    faces = iter([face(100), face(300, yaw_shift=0.35)])
    with pytest.raises(PoorSourceFaceError, match="too small"):
        enroll_source(paths, lambda img: [next(faces)])


def test_a_small_target_samples_a_smaller_texture_level(tmp_path):
    src = enroll_source(photo(tmp_path, "big.png", size=900), lambda img: [face(800, 40, 40)])
    assert len(src.pyramid) >= 4
    image, points = src.level_for(src.eye_distance)
    assert image is src.image
    image, points = src.level_for(src.eye_distance / 5)  # a 5x smaller face: level 2 (4x)
    assert image.shape[:2] == src.pyramid[2].shape[:2]
    assert eye_distance(points) == pytest.approx(src.eye_distance / 4, rel=0.01)
