"""A jaw outline bent inward (a far-side jaw point of a turned face pulled in) must not
paste the source's background: the mask's smoothing reaches past the triangles there, where
the warp has no source pixel."""

from __future__ import annotations

import cv2
import numpy as np
from test_swap_mask import skin_face

from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import OUTLINE, enroll_source, eye_distance
from facestream.filters.swap import SwapOptions, TrackState, composite_face
from facestream.models.landmarks import MEAN_SHAPE, NAMES

TARGET_SKIN = (150, 110, 90)


def test_a_notch_in_the_jaw_outline_shows_the_target_not_the_sources_background(tmp_path):
    points = np.asarray(MEAN_SHAPE, np.float32) * 260.0 + (70.0, 100.0)
    # The source: skin inside its outline on a white background (img18's backdrop).
    photo = skin_face(points, np.full((480, 400, 3), 255, np.uint8))
    path = tmp_path / "source.png"
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    source = enroll_source(path, lambda _: [points])
    # The target: the same face with jaw_2 pulled a third of the eye distance toward the
    # nose, as the engine put it under a headset wire on spectre/0Fi83BHQsMA_00002.
    target = points.copy()
    jaw = NAMES.index("jaw_2")
    nose = points[NAMES.index("nose_bridge_3")]
    towards = (nose - points[jaw]) / np.linalg.norm(nose - points[jaw])
    target[jaw] += 0.33 * eye_distance(points) * towards
    image = np.zeros((480, 400, 3), np.uint8)
    image[:] = TARGET_SKIN
    result = composite_face(image, target, source, SwapOptions(), TrackState())
    assert result is not None
    # Outside the target's outline (in the notch too) no triangle draws: the target stays
    # (a pixel away from it: the outline's own pixels are rasterised a little differently).
    face = polygon_mask(target[OUTLINE], image.shape[:2])
    outside = cv2.dilate(face, np.ones((3, 3), np.uint8)) == 0
    assert np.abs(image[outside].astype(int) - TARGET_SKIN).max() <= 1
    # The notch lies inside the straight outline it replaced (the check can fail there).
    straight = polygon_mask(points[OUTLINE], image.shape[:2]) > 0
    notch = outside & straight
    assert notch.sum() > 50
