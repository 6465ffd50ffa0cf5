"""Glasses worn from a track's start are kept whole from its first frame; a bare face never.

A cut or a new face starts a track: its glasses used to be decided after 4 frames and
faded in over 4 more, their fit settling over the next learns (6 frames apart), so the
rims popped in a second after each cut.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from test_glasses import moving_face

from facestream.filters import glasses
from facestream.filters.glasses import GlassesModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from swap_glasses import canonical_whole, draw_glasses, lens_rings, pieces_on_ring  # noqa: E402

FRAMES = 16
STYLES = {"thin dark": (0.03, (30, 25, 25)), "silver": (0.03, (215, 215, 210))}
STYLES["thick black"] = (0.06, (20, 18, 18))


@pytest.mark.parametrize("style", list(STYLES), ids=list(STYLES))
def test_glasses_worn_from_the_start_are_kept_whole_from_the_first_frame(style):
    model = GlassesModel()
    for t, (image, points) in enumerate(moving_face(FRAMES, seed=4)):
        drawn, cover = draw_glasses(image, points, *STYLES[style])
        found = model.glasses(drawn, points)
        assert found is not None, f"frame {t}: the glasses were not kept"
        kept = np.zeros(image.shape[:2], np.float32)
        kept[found[0]] = found[1]
        assert (kept[cover > 0.5] > 0.5).mean() > 0.85, f"frame {t}: the rims were pasted over"
        for ring in lens_rings(points):
            runs, longest = pieces_on_ring(kept > 0.5, ring)
            assert runs == 1 and longest > 0.95, f"frame {t}: a rim kept in pieces"


@pytest.mark.parametrize("seed", [2, 3, 5])
def test_a_bare_face_is_never_kept_on_its_first_frames(seed):
    model = GlassesModel()
    for t, (image, points) in enumerate(moving_face(FRAMES, seed=seed)):
        assert model.glasses(image, points) is None, f"frame {t}: glasses on a bare face"
    assert not model.wearing


def test_a_bridge_and_arms_alone_are_not_decided_on_the_first_frames():
    # One cue only (a bar across the nose, like a frown line or a strand of hair, and the
    # arms), no lens rims: a track's first frames decide only where both cues agree.
    model = GlassesModel()
    for t, (image, points) in enumerate(moving_face(FRAMES, seed=3)):
        drawn, _ = draw_glasses(image, points, 0.03, (30, 25, 25))
        rims = np.zeros(image.shape[:2], np.uint8)
        for ring in lens_rings(points):
            cv2.polylines(rims, [np.round(ring).astype(np.int32)], True, 1, 9)
        no_rims = np.where(rims[..., None] > 0, image, drawn)
        assert model.glasses(no_rims, points) is None, f"frame {t}: decided on one cue"


def first_frames(path: Path, count: int) -> list[bool]:
    """Per frame of a clip's first `count` (the product's own landmarks): whether its
    glasses are kept whole (the shown mask closes a ring around each eye:
    `canonical_whole`)."""
    from facestream.models.engine import LandmarkEngine
    from facestream.models.hrnet import default_weights_path

    if not default_weights_path("hrnet128_lite").is_file():
        pytest.skip("needs the shipped landmark weights")
    engine, model, out = LandmarkEngine("hrnet128_lite", num_threads=1), GlassesModel(), []
    with av.open(str(path)) as container:
        for image in container.decode(video=0):
            rgb = image.to_ndarray(format="rgb24")
            found = model.glasses(rgb, engine.track(rgb)[0].points)
            out.append(found is not None and canonical_whole(glasses, model)[0])
            if len(out) == count:
                break
    return out


@pytest.mark.data
@pytest.mark.parametrize("clip", ["retalking/5", "liveportrait/d19", "liveportrait/d9"])
def test_real_glasses_are_kept_whole_from_the_tracks_first_frame(shared_data, clip):
    # Thin dark rims (retalking/5), thin metal rims with faint tops over lid creases (d19),
    # thin silver rims (d9): kept whole from frame 0 (before: from frame 5, faded in).
    frames = first_frames(shared_data / "videos" / f"{clip}.mp4", 8)
    assert all(frames), frames
