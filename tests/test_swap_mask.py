"""The default mask: the source's hair over the face (a fringe, a lock over a cheek) left
out, the target's brows covered."""

from __future__ import annotations

import cv2
import numpy as np

from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import (
    BROWS,
    FOREHEAD_ROW,
    NOSE,
    OUTLINE,
    enroll_source,
    eye_distance,
)
from facestream.filters.swap import (
    SwapOptions,
    TrackState,
    composite_face,
    face_polygon,
    hair_free,
)
from facestream.models.landmarks import MEAN_SHAPE


def placed(scale: float = 200.0, x: float = 100.0, y: float = 120.0) -> np.ndarray:
    return np.asarray(MEAN_SHAPE, np.float32) * scale + (x, y)


def test_a_dark_fringe_above_the_brows_is_left_out_and_bare_skin_kept():
    points = placed()
    skin = np.zeros((480, 400, 3), np.uint8)
    skin[:] = (200, 160, 140)
    fringe_end = int(points[BROWS, 1].min() - 0.3 * eye_distance(points))
    bare = hair_free(skin, points)
    fringe = skin.copy()
    fringe[:fringe_end] = (110, 80, 40)  # brown hair down to just above the brows
    hair = hair_free(fringe, points)
    cx = int(points[:, 0].mean())
    assert bare.min() > 0.99  # a bare forehead is all skin
    assert hair[fringe_end - 8, cx] < 0.05  # the fringe is dropped
    cheek = points[BROWS, 1].max() + 60
    assert hair[int(cheek), cx] > 0.99  # below the brows nothing changes


def test_the_mask_top_stays_clear_of_the_targets_brows():
    target = placed()
    drawn = target.copy()
    drawn[FOREHEAD_ROW, 1] = target[BROWS, 1].mean()  # a drawn row down on the brows
    clearance = 12.0
    polygon = face_polygon(drawn, target, clearance)
    mask = polygon_mask(polygon, (480, 400)) > 0
    row_x = target[FOREHEAD_ROW, 0]
    inner = (target[BROWS, 0] > row_x.min()) & (target[BROWS, 0] < row_x.max())
    for x, y in target[BROWS][inner].astype(int):
        assert mask[y, x] and mask[y - int(clearance) + 2, x]
    # A row already high enough is not moved.
    assert np.allclose(
        face_polygon(target, target, 1.0)[-len(FOREHEAD_ROW) :], target[FOREHEAD_ROW]
    )


def skin_face(points: np.ndarray, outside: np.ndarray, seed: int = 0) -> np.ndarray:
    """Skin (with a little pore-scale noise) inside the face outline, `outside` around it."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0.0, 3.0, outside.shape[:2]).astype(np.float32), (0, 0), 1)
    skin = np.clip(np.array([200.0, 160.0, 140.0]) + noise[..., None], 0, 255)
    face = polygon_mask(points[OUTLINE].astype(np.float32), outside.shape[:2]) > 0
    return np.where(face[..., None], skin, outside).astype(np.uint8)


def auburn_hair(shape: tuple[int, int]) -> np.ndarray:
    """Auburn strands: rows alternating between two reds every 3 px."""
    hair = np.zeros((*shape, 3), np.uint8)
    hair[:] = (170, 80, 30)
    hair[np.arange(shape[0]) % 6 < 3] = (120, 50, 20)
    return hair


def test_a_lock_across_the_cheek_is_left_out_and_the_target_cheek_shows(tmp_path):
    points = placed(260.0, 70.0, 100.0)  # eyes 99 px apart: large enough to enroll
    hair = auburn_hair((480, 400))
    image = skin_face(points, hair)
    # The lock: from the hair outside the face across the left cheek, at mid-nose height.
    eyes = eye_distance(points)
    y = int(points[NOSE, 1].mean())
    lock_end = int(points[NOSE, 0].min() - 0.3 * eyes)
    image[y - 20 : y + 20, :lock_end] = hair[y - 20 : y + 20, :lock_end]
    skin = hair_free(image, points)
    face = polygon_mask(points[OUTLINE].astype(np.float32), (480, 400)) > 0
    left, right = np.flatnonzero(face[y])[[0, -1]]
    cheek = int(left + 0.15 * eyes)
    assert skin[y, cheek] < 0.1  # the lock is dropped where it covers the cheek
    assert skin[y + int(0.6 * eyes), cheek] > 0.99  # the bare cheek below it is kept
    assert skin[y, int(right - 0.15 * eyes)] > 0.99  # and the bare right cheek
    path = tmp_path / "lock.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    source = enroll_source(path, lambda _: [points])
    target = np.zeros((480, 400, 3), np.uint8)
    target[:] = (150, 110, 90)
    result = composite_face(target, points, source, SwapOptions(), TrackState())
    assert result is not None
    # Where the source's lock lies the target shows its own cheek, not auburn.
    assert np.abs(target[y, cheek].astype(int) - (150, 110, 90)).max() <= 3
    # The check can fail: without the cut-out the lock is pasted.
    pasted = np.zeros_like(target)
    pasted[:] = (150, 110, 90)
    composite_face(pasted, points, source, SwapOptions(mask="outline"), TrackState())
    assert np.abs(pasted[y, cheek].astype(int) - (150, 110, 90)).max() > 10


def test_a_side_lit_bare_face_framed_by_red_hair_has_nothing_left_out():
    points = placed()
    image = skin_face(points, auburn_hair((480, 400)), seed=1).astype(np.float32)
    # Light from the right: the left side of the face at 45 % of the right side's.
    x = np.arange(400, dtype=np.float32)
    left, right = points[OUTLINE, 0].min(), points[OUTLINE, 0].max()
    light = np.clip(0.45 + 0.55 * (x - left) / (right - left), 0.45, 1.0)
    face = polygon_mask(points[OUTLINE].astype(np.float32), (480, 400)) > 0
    image[face] *= np.broadcast_to(light[None, :, None], image.shape)[face]
    skin = hair_free(image.astype(np.uint8), points)
    below_brows = face.copy()
    below_brows[: int(points[BROWS, 1].max()) + 10] = False
    assert skin[below_brows].min() > 0.99


def test_a_locks_growth_stops_short_of_the_shaded_jaw_rim():
    """A saturated lock takes along the same hair in shadow (off the cheeks' tone), but the
    shaded rim of the jaw is off that tone too: joined to a lock, the whole rim round the
    chin was left out (deepface img55, img22, img48)."""
    points = placed(260.0, 70.0, 100.0)
    hair = auburn_hair((480, 400))
    image = skin_face(points, hair, seed=2).astype(np.float32)
    eyes = eye_distance(points)
    face = polygon_mask(points[OUTLINE].astype(np.float32), (480, 400))
    y = int(points[NOSE, 1].mean())
    # The jaw's rim in shade, 0.12 eye distances wide, from the lock's row down and round.
    rim = (cv2.distanceTransform(face, cv2.DIST_L2, 3) < 0.12 * eyes) & (face > 0)
    rim[: y + 20] = False
    image[rim] *= 0.65
    lock_end = int(points[NOSE, 0].min() - 0.3 * eyes)
    image[y - 20 : y + 20, :lock_end] = hair[y - 20 : y + 20, :lock_end]
    skin = hair_free(image.astype(np.uint8), points)
    left = np.flatnonzero(face[y])[0]
    assert skin[y, int(left + 0.15 * eyes)] < 0.1  # the lock is left out
    # The rim under the chin and up the far side is kept (the old growth left it out).
    chin = int(points[OUTLINE, 1].max() - 0.05 * eyes)
    assert skin[chin, int(points[NOSE, 0].mean())] > 0.9
    right = np.flatnonzero(face[y + 40])[-1]
    assert skin[y + 40, int(right - 0.05 * eyes)] > 0.9
