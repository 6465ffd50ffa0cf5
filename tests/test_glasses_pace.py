"""A track clearly without glasses learns their evidence less often, and still finds them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from test_glasses import moving_face

from facestream.filters.glasses import (
    BARE_EVERY,
    BARE_LEARNS,
    EVIDENCE_EVERY,
    WARMUP,
    GlassesModel,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from swap_glasses import draw_glasses  # noqa: E402


def learned_frames(model: GlassesModel, frames, glasses_from: int | None = None) -> list[int]:
    """The frames on which `model` learned evidence (glasses drawn from `glasses_from`)."""
    learned = []
    for t, (image, points) in enumerate(frames):
        if glasses_from is not None and t >= glasses_from:
            image = draw_glasses(image, points, 0.03, (30, 25, 25))[0]
        before = model.evidence_frames
        model.glasses(image, points)
        if model.evidence_frames != before:
            learned.append(t)
    return learned


def test_a_bare_track_learns_every_bare_every_frames_after_its_bare_learns():
    model = GlassesModel()
    learned = learned_frames(model, moving_face(100, seed=5))
    assert BARE_LEARNS <= WARMUP  # a bare warm-up is enough
    assert learned == list(range(WARMUP)) + list(range(BARE_EVERY, 100, BARE_EVERY))
    assert not model.wearing and model.bare_learns >= BARE_LEARNS


def test_glasses_put_on_mid_track_are_still_found_and_the_pace_comes_back():
    model = GlassesModel()
    learned = learned_frames(model, moving_face(160, seed=4), glasses_from=60)
    assert model.wearing, "the glasses put on at frame 60 were never found"
    assert model.bare_learns == 0
    late = [t for t in learned if t > 100]
    assert late and set(np.diff(late)) == {EVIDENCE_EVERY}
