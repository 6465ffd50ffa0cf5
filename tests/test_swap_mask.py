"""The default mask's forehead: the source's fringe left out, the target's brows covered."""

from __future__ import annotations

import numpy as np

from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import eye_distance
from facestream.filters.swap import _BROWS, _FOREHEAD_ROW, face_polygon, forehead_skin
from facestream.models.landmarks import MEAN_SHAPE


def placed(scale: float = 200.0, x: float = 100.0, y: float = 120.0) -> np.ndarray:
    return np.asarray(MEAN_SHAPE, np.float32) * scale + (x, y)


def test_a_dark_fringe_above_the_brows_is_left_out_and_bare_skin_kept():
    points = placed()
    skin = np.zeros((480, 400, 3), np.uint8)
    skin[:] = (200, 160, 140)
    fringe_end = int(points[_BROWS, 1].min() - 0.3 * eye_distance(points))
    bare = forehead_skin(skin, points)
    fringe = skin.copy()
    fringe[:fringe_end] = (110, 80, 40)  # brown hair down to just above the brows
    hair = forehead_skin(fringe, points)
    cx = int(points[:, 0].mean())
    assert bare.min() > 0.99  # a bare forehead is all skin
    assert hair[fringe_end - 8, cx] < 0.05  # the fringe is dropped
    cheek = points[_BROWS, 1].max() + 60
    assert hair[int(cheek), cx] > 0.99  # below the brows nothing changes


def test_the_mask_top_stays_clear_of_the_targets_brows():
    target = placed()
    drawn = target.copy()
    drawn[_FOREHEAD_ROW, 1] = target[_BROWS, 1].mean()  # a drawn row down on the brows
    clearance = 12.0
    polygon = face_polygon(drawn, target, clearance)
    mask = polygon_mask(polygon, (480, 400)) > 0
    row_x = target[_FOREHEAD_ROW, 0]
    inner = (target[_BROWS, 0] > row_x.min()) & (target[_BROWS, 0] < row_x.max())
    for x, y in target[_BROWS][inner].astype(int):
        assert mask[y, x] and mask[y - int(clearance) + 2, x]
    # A row already high enough is not moved.
    assert np.allclose(
        face_polygon(target, target, 1.0)[-len(_FOREHEAD_ROW) :], target[_FOREHEAD_ROW]
    )
