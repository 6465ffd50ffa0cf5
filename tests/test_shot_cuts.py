"""Shot cuts: another scene is a cut; motion, a pan and a change of light are not; the
engine's tracks end at a cut."""

from __future__ import annotations

import numpy as np
from skimage.data import astronaut, chelsea, coffee

from facestream.models.engine import LandmarkEngine
from facestream.models.shot_cuts import ShotCuts


def cuts_of(frames: list[np.ndarray]) -> list[bool]:
    cuts = ShotCuts()
    return [cuts.is_cut(f) for f in frames]


def test_another_scene_is_a_cut() -> None:
    assert cuts_of([astronaut(), astronaut(), coffee()[:512, :512], chelsea()[:300, :300]]) == [
        False,
        False,
        True,
        True,
    ]


def test_motion_pans_and_light_within_a_shot_are_not_cuts() -> None:
    image = astronaut()
    moving = [np.roll(image, 12 * i, axis=1) for i in range(4)]  # a fast pan, 12 px a frame
    dimming = [(image * (1 - 0.05 * i)).astype(np.uint8) for i in range(6)]  # a fade
    assert not any(cuts_of(moving)) and not any(cuts_of(dimming))


def test_reset_forgets_the_previous_frame() -> None:
    cuts = ShotCuts()
    cuts.is_cut(astronaut())
    cuts.reset()
    assert not cuts.is_cut(coffee())


def test_the_engine_gives_the_faces_of_a_new_shot_new_ids() -> None:
    """The same face in the same place after a cut away and back is a new track."""
    engine = LandmarkEngine(weights=None, min_confidence=0.0)
    face, other = astronaut(), coffee()[:512, :512]
    ids = [[f.track_id for f in engine.track(frame)] for frame in (face, face, other, face)]
    assert ids[0] == ids[1] == [0]
    assert 0 not in ids[2] + ids[3] and ids[3] != []
