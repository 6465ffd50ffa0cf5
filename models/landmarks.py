"""The 128-point facial landmark scheme of HRNet-128, defined once.

Indices 0-67 are exactly the iBUG 300-W 68 points in their standard order, so every 68-point
dataset, metric and tool applies unchanged. Indices 68-127 densify what a face swap needs:
the lower jaw line (25 jaw points in all), the lips (32 mouth points in all), both iris
centres, the eyelid centres, the nose wings, the cheeks, a row across the chin, a closed
outline over the forehead and a row of forehead points (so jaw + forehead is one closed
polygon, the swap mask).

"Right" and "left" are the subject's own sides, as in iBUG (point 36, the right eye's outer
corner, appears on the image's left in an unmirrored frontal photo) and in MediaPipe Face Mesh
(vertex 33 is the right eye's outer corner).

Each extra point is defined for a teacher as a MediaPipe Face Mesh vertex (0-477, with
468/473 the iris centres of the refined mesh) or the midpoint of two vertices
(`TEACHER_DEFINITIONS`, `teacher_points`). The constants `MEAN_SHAPE` and `TRIANGLES` were
computed by `models/landmarks_tools.py` from the human labels of 300-W and MediaPipe meshes
of the same faces; rerun it to regenerate them.

This module imports numpy only: it is also used from the MediaPipe environment (numpy<2).

Example:
    >>> from facestream.models.landmarks import NUM_POINTS, FLIP_PERMUTATION, IBUG68
    >>> NUM_POINTS, len(IBUG68)
    (128, 68)
    >>> int(FLIP_PERMUTATION[36])  # right eye outer corner <-> left eye outer corner
    45
"""

from __future__ import annotations

import numpy as np

NUM_POINTS = 128

# One row per point: (name, group, teacher definition or None for the iBUG points).
# A teacher definition is a tuple of (mesh vertex, weight) whose weights sum to 1.
_Def = tuple[tuple[int, float], ...]


def _v(a: int) -> _Def:
    return ((a, 1.0),)


def _mid(a: int, b: int) -> _Def:
    return ((a, 0.5), (b, 0.5))


_IBUG_NAMES: list[tuple[str, str]] = (
    [(f"jaw_{i}", "jaw") for i in range(17)]
    + [(f"brow_right_{i}", "brows") for i in range(5)]
    + [(f"brow_left_{i}", "brows") for i in range(5)]
    + [(f"nose_bridge_{i}", "nose") for i in range(4)]
    + [(f"nose_base_{i}", "nose") for i in range(5)]
    + [(f"eye_right_{i}", "eyes") for i in range(6)]
    + [(f"eye_left_{i}", "eyes") for i in range(6)]
    + [(f"lip_outer_{i}", "mouth") for i in range(12)]
    + [(f"lip_inner_{i}", "mouth") for i in range(8)]
)

# The 60 extra points. Jaw and lip points sit between two iBUG points (named after them);
# their vertices were chosen by least error against the midpoints of the human 300-W labels,
# symmetric by construction (see models/landmarks_tools.py).
_EXTRA: list[tuple[str, str, _Def]] = [
    # 68-75: lower jaw, right to left, between iBUG jaw points 4-5 ... 11-12.
    ("jaw_4_5", "jaw", _mid(172, 136)),
    ("jaw_5_6", "jaw", _v(150)),
    ("jaw_6_7", "jaw", _v(176)),
    ("jaw_7_8", "jaw", _mid(148, 152)),
    ("jaw_8_9", "jaw", _mid(152, 377)),
    ("jaw_9_10", "jaw", _v(400)),
    ("jaw_10_11", "jaw", _v(379)),
    ("jaw_11_12", "jaw", _mid(365, 397)),
    # 76-83: outer lips, between iBUG 49-50 ... 52-53 (upper) and 55-56 ... 58-59 (lower).
    ("lip_outer_49_50", "mouth", _mid(39, 37)),
    ("lip_outer_50_51", "mouth", _mid(37, 0)),
    ("lip_outer_51_52", "mouth", _mid(0, 267)),
    ("lip_outer_52_53", "mouth", _mid(267, 269)),
    ("lip_outer_55_56", "mouth", _mid(405, 314)),
    ("lip_outer_56_57", "mouth", _mid(314, 17)),
    ("lip_outer_57_58", "mouth", _mid(17, 84)),
    ("lip_outer_58_59", "mouth", _mid(84, 181)),
    # 84-87: inner lips near the mouth corners, where the opening curves most.
    ("lip_inner_60_61", "mouth", _mid(78, 82)),
    ("lip_inner_63_64", "mouth", _mid(312, 308)),
    ("lip_inner_64_65", "mouth", _mid(308, 317)),
    ("lip_inner_67_60", "mouth", _mid(87, 78)),
    # 88-93: irises (refined mesh) and eyelid centres.
    ("iris_right", "eyes", _v(468)),
    ("iris_left", "eyes", _v(473)),
    ("eyelid_right_upper", "eyes", _mid(159, 158)),
    ("eyelid_right_lower", "eyes", _v(145)),
    ("eyelid_left_upper", "eyes", _mid(386, 385)),
    ("eyelid_left_lower", "eyes", _v(374)),
    # 94-97: nose wings (alar base beside the nostril, top of the ala).
    ("nose_wing_right_base", "nose", _v(98)),
    ("nose_wing_left_base", "nose", _v(327)),
    ("nose_wing_right_top", "nose", _v(48)),
    ("nose_wing_left_top", "nose", _v(278)),
    # 98-105: cheeks.
    ("cheek_right_infraorbital", "cheeks", _v(118)),
    ("cheek_left_infraorbital", "cheeks", _v(347)),
    ("cheek_right_centre", "cheeks", _v(50)),
    ("cheek_left_centre", "cheeks", _v(280)),
    ("cheek_right_nasolabial", "cheeks", _v(203)),
    ("cheek_left_nasolabial", "cheeks", _v(423)),
    ("cheek_right_lower", "cheeks", _v(207)),
    ("cheek_left_lower", "cheeks", _v(427)),
    # 106-108: a row across the chin between the lower lip and the jaw, right to left (it
    # keeps the triangles between the dense lower lip and the jaw from becoming slivers).
    ("chin_right", "chin", _v(201)),
    ("chin_centre", "chin", _v(200)),
    ("chin_left", "chin", _v(421)),
    # 109-121: forehead outline (MediaPipe face oval), from above jaw_0 over the top to
    # above jaw_16.
    ("forehead_outline_0", "forehead", _v(162)),
    ("forehead_outline_1", "forehead", _v(21)),
    ("forehead_outline_2", "forehead", _v(54)),
    ("forehead_outline_3", "forehead", _v(103)),
    ("forehead_outline_4", "forehead", _v(67)),
    ("forehead_outline_5", "forehead", _v(109)),
    ("forehead_outline_6", "forehead", _v(10)),
    ("forehead_outline_7", "forehead", _v(338)),
    ("forehead_outline_8", "forehead", _v(297)),
    ("forehead_outline_9", "forehead", _v(332)),
    ("forehead_outline_10", "forehead", _v(284)),
    ("forehead_outline_11", "forehead", _v(251)),
    ("forehead_outline_12", "forehead", _v(389)),
    # 122-127: a row across the middle of the forehead, right to left.
    ("forehead_0", "forehead", _v(104)),
    ("forehead_1", "forehead", _v(69)),
    ("forehead_2", "forehead", _v(108)),
    ("forehead_3", "forehead", _v(337)),
    ("forehead_4", "forehead", _v(299)),
    ("forehead_5", "forehead", _v(333)),
]

NAMES: tuple[str, ...] = tuple(n for n, _ in _IBUG_NAMES) + tuple(n for n, _, _ in _EXTRA)
_GROUP_OF: tuple[str, ...] = tuple(g for _, g in _IBUG_NAMES) + tuple(g for _, g, _ in _EXTRA)

GROUPS: dict[str, np.ndarray] = {
    g: np.array([i for i, gi in enumerate(_GROUP_OF) if gi == g], dtype=np.int64)
    for g in dict.fromkeys(_GROUP_OF)
}
"""Point indices per group: jaw, brows, nose, eyes, mouth, cheeks, forehead."""

IBUG68 = np.arange(68, dtype=np.int64)
"""The iBUG 300-W subset, in iBUG order (it is simply the first 68 points)."""

# iBUG regions (indices into the 68 points), for evaluation by region.
JAW_68 = np.arange(0, 17, dtype=np.int64)
BROWS_68 = np.arange(17, 27, dtype=np.int64)
NOSE_68 = np.arange(27, 36, dtype=np.int64)
EYES_68 = np.arange(36, 48, dtype=np.int64)
MOUTH_68 = np.arange(48, 68, dtype=np.int64)

TEACHER_DEFINITIONS: dict[int, tuple[tuple[int, float], ...]] = {
    68 + k: d for k, (_, _, d) in enumerate(_EXTRA)
}
"""Point index (68-127) -> ((MediaPipe Face Mesh vertex, weight), ...), weights sum to 1."""

# The iBUG half of the flip permutation (standard 300-W mirror pairs).
_IBUG_FLIP = (
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]  # nose
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)
_EXTRA_FLIP = (
    [75, 74, 73, 72, 71, 70, 69, 68]  # jaw
    + [79, 78, 77, 76, 83, 82, 81, 80]  # outer lips
    + [85, 84, 87, 86]  # inner lips
    + [89, 88, 92, 93, 90, 91]  # irises, eyelids
    + [95, 94, 97, 96]  # nose wings
    + [99, 98, 101, 100, 103, 102, 105, 104]  # cheeks
    + [108, 107, 106]  # chin row
    + list(range(121, 108, -1))  # forehead outline
    + list(range(127, 121, -1))  # forehead row
)
FLIP_PERMUTATION = np.array(_IBUG_FLIP + _EXTRA_FLIP, dtype=np.int64)
"""Index map of a horizontal flip: ``flipped[i] = mirrored_points[FLIP_PERMUTATION[i]]``."""

FACE_OUTLINE = np.array(
    [0, 1, 2, 3, 4, 68, 5, 69, 6, 70, 7, 71, 8, 72, 9, 73, 10, 74, 11, 75, 12, 13, 14, 15, 16]
    + list(range(121, 108, -1)),
    dtype=np.int64,
)
"""Closed face polygon: jaw right to left, then the forehead outline back over the top."""

OUTER_MOUTH = np.array(
    [48, 49, 76, 50, 77, 51, 78, 52, 79, 53, 54, 55, 80, 56, 81, 57, 82, 58, 83, 59],
    dtype=np.int64,
)
"""Outer lip polygon, clockwise in the image from the right mouth corner."""

INNER_MOUTH = np.array([60, 84, 61, 62, 63, 85, 64, 86, 65, 66, 67, 87], dtype=np.int64)
"""Inner lip polygon (the mouth opening), from the right inner corner."""

RIGHT_EYE = np.array([36, 37, 90, 38, 39, 40, 91, 41], dtype=np.int64)
"""Right eye opening polygon: outer corner, upper lid, inner corner, lower lid."""

LEFT_EYE = np.array([42, 43, 92, 44, 45, 46, 93, 47], dtype=np.int64)
"""Left eye opening polygon: inner corner, upper lid, outer corner, lower lid."""

IRIS_CENTRES = np.array([88, 89], dtype=np.int64)
"""Right and left iris centres."""

# fmt: off
MEAN_SHAPE = np.array([
    [0.0633, 0.3189], [0.0678, 0.4338], [0.0805, 0.5476], [0.1047, 0.6585],
    [0.1498, 0.7616], [0.2195, 0.8509], [0.3044, 0.9243], [0.3966, 0.9827],
    [0.5000, 1.0000], [0.6034, 0.9827], [0.6956, 0.9243], [0.7805, 0.8509],
    [0.8502, 0.7616], [0.8953, 0.6585], [0.9195, 0.5476], [0.9322, 0.4338],
    [0.9367, 0.3189], [0.1454, 0.2351], [0.1978, 0.1844], [0.2741, 0.1672],
    [0.3537, 0.1768], [0.4289, 0.2041], [0.5711, 0.2041], [0.6463, 0.1768],
    [0.7259, 0.1672], [0.8022, 0.1844], [0.8546, 0.2351], [0.5000, 0.2971],
    [0.5000, 0.3708], [0.5000, 0.4432], [0.5000, 0.5179], [0.4105, 0.5716],
    [0.4536, 0.5865], [0.5000, 0.5991], [0.5464, 0.5865], [0.5895, 0.5716],
    [0.2337, 0.3105], [0.2816, 0.2837], [0.3386, 0.2842], [0.3888, 0.3212],
    [0.3356, 0.3305], [0.2784, 0.3298], [0.6112, 0.3212], [0.6614, 0.2842],
    [0.7184, 0.2837], [0.7663, 0.3105], [0.7216, 0.3298], [0.6644, 0.3305],
    [0.3314, 0.7080], [0.3936, 0.6826], [0.4572, 0.6692], [0.5000, 0.6797],
    [0.5428, 0.6692], [0.6064, 0.6826], [0.6686, 0.7080], [0.6082, 0.7684],
    [0.5464, 0.7949], [0.5000, 0.7998], [0.4536, 0.7949], [0.3918, 0.7684],
    [0.3572, 0.7110], [0.4566, 0.7050], [0.5000, 0.7097], [0.5434, 0.7050],
    [0.6428, 0.7110], [0.5441, 0.7397], [0.5000, 0.7449], [0.4559, 0.7397],
    [0.1884, 0.7970], [0.2659, 0.8802], [0.3638, 0.9514], [0.4616, 0.9798],
    [0.5384, 0.9798], [0.6362, 0.9514], [0.7341, 0.8802], [0.8116, 0.7970],
    [0.4288, 0.6700], [0.4759, 0.6694], [0.5241, 0.6694], [0.5712, 0.6700],
    [0.5707, 0.7841], [0.5248, 0.7947], [0.4752, 0.7947], [0.4293, 0.7841],
    [0.4060, 0.7047], [0.5940, 0.7047], [0.5940, 0.7229], [0.4060, 0.7229],
    [0.3097, 0.3018], [0.6903, 0.3018], [0.3154, 0.2797], [0.3112, 0.3305],
    [0.6846, 0.2797], [0.6888, 0.3305], [0.3918, 0.5712], [0.6082, 0.5712],
    [0.3828, 0.5360], [0.6172, 0.5360], [0.2317, 0.4201], [0.7683, 0.4201],
    [0.2041, 0.5015], [0.7959, 0.5015], [0.3395, 0.5594], [0.6605, 0.5594],
    [0.2245, 0.6136], [0.7755, 0.6136], [0.4377, 0.8670], [0.5000, 0.8723],
    [0.5623, 0.8670], [0.0843, 0.2353], [0.1034, 0.1651], [0.1403, 0.1002],
    [0.1987, 0.0494], [0.2882, 0.0170], [0.3850, 0.0024], [0.5000, 0.0000],
    [0.6150, 0.0024], [0.7118, 0.0170], [0.8013, 0.0494], [0.8597, 0.1002],
    [0.8966, 0.1651], [0.9157, 0.2353], [0.2255, 0.1067], [0.3111, 0.0928],
    [0.3994, 0.0919], [0.6006, 0.0919], [0.6889, 0.0928], [0.7745, 0.1067],
], dtype=np.float32)
# fmt: on
"""Canonical frontal template (128, 2): mean of 300-W faces (human iBUG points, MediaPipe
teacher points for the rest), made exactly symmetric, spanning [0, 1] on its larger side (the
height) and centred on 0.5. Generated by `models/landmarks_tools.py constants`."""

# fmt: off
TRIANGLES = np.array([
    [1, 98, 100], [1, 100, 2], [3, 104, 4], [6, 69, 59], [7, 70, 106],
    [10, 55, 74], [10, 73, 108], [11, 54, 75], [13, 105, 14], [14, 105, 101],
    [15, 14, 101], [15, 99, 16], [17, 18, 36], [17, 36, 0], [17, 109, 110],
    [18, 17, 110], [18, 19, 37], [18, 110, 111], [18, 122, 19], [19, 90, 37],
    [20, 90, 19], [21, 27, 39], [21, 38, 20], [21, 39, 38], [21, 125, 22],
    [23, 43, 22], [23, 92, 43], [23, 125, 126], [24, 23, 126], [24, 126, 127],
    [25, 24, 127], [25, 44, 24], [25, 119, 120], [25, 127, 119], [26, 25, 120],
    [26, 121, 16], [27, 21, 22], [27, 42, 28], [29, 39, 28], [29, 97, 30],
    [31, 32, 76], [31, 76, 94], [31, 94, 96], [31, 96, 30], [32, 31, 30],
    [32, 50, 76], [32, 77, 50], [33, 32, 30], [34, 33, 30], [34, 35, 79],
    [34, 78, 33], [35, 34, 30], [35, 95, 79], [36, 18, 37], [36, 98, 0],
    [38, 90, 20], [39, 27, 28], [39, 29, 96], [39, 40, 38], [40, 39, 96],
    [40, 88, 38], [40, 91, 88], [41, 36, 37], [42, 27, 22], [42, 29, 28],
    [42, 43, 47], [42, 97, 29], [43, 42, 22], [43, 89, 47], [44, 45, 46],
    [44, 92, 24], [45, 25, 26], [45, 26, 16], [45, 44, 25], [46, 45, 99],
    [47, 93, 99], [48, 60, 59], [48, 69, 5], [48, 104, 102], [49, 48, 102],
    [49, 60, 48], [49, 84, 60], [50, 61, 76], [52, 34, 79], [52, 78, 34],
    [53, 54, 64], [53, 85, 79], [53, 95, 103], [54, 11, 74], [54, 53, 103],
    [54, 55, 64], [54, 105, 75], [55, 10, 108], [55, 54, 74], [55, 86, 64],
    [56, 65, 80], [56, 80, 108], [56, 81, 65], [57, 107, 82], [58, 67, 82],
    [58, 82, 106], [60, 87, 59], [61, 62, 67], [61, 77, 51], [61, 84, 76],
    [61, 87, 84], [62, 61, 51], [62, 63, 65], [62, 66, 67], [63, 52, 79],
    [63, 62, 51], [63, 86, 65], [65, 86, 80], [66, 57, 82], [66, 62, 65],
    [66, 81, 57], [67, 58, 83], [67, 66, 82], [68, 48, 5], [68, 104, 48],
    [69, 48, 59], [71, 7, 106], [71, 72, 8], [71, 107, 72], [72, 108, 9],
    [75, 105, 12], [76, 49, 94], [77, 32, 33], [77, 61, 50], [77, 78, 51],
    [78, 52, 63], [78, 63, 51], [78, 77, 33], [80, 55, 108], [81, 56, 108],
    [81, 66, 65], [81, 107, 57], [82, 107, 106], [83, 58, 106], [83, 106, 59],
    [84, 49, 76], [84, 87, 60], [85, 53, 64], [85, 63, 79], [85, 86, 63],
    [86, 55, 80], [86, 85, 64], [87, 61, 67], [87, 67, 83], [87, 83, 59],
    [88, 41, 37], [88, 90, 38], [88, 91, 41], [89, 44, 46], [89, 92, 44],
    [89, 93, 47], [90, 88, 37], [91, 40, 98], [91, 98, 41], [92, 23, 24],
    [92, 89, 43], [93, 46, 99], [93, 89, 46], [94, 49, 102], [95, 53, 79],
    [95, 97, 103], [96, 29, 30], [96, 94, 102], [97, 35, 30], [97, 42, 47],
    [97, 47, 99], [97, 95, 35], [98, 1, 0], [98, 36, 41], [98, 40, 96],
    [98, 96, 102], [99, 15, 101], [99, 45, 16], [100, 98, 102], [100, 104, 2],
    [103, 97, 99], [103, 99, 101], [104, 3, 2], [104, 68, 4], [104, 100, 102],
    [105, 13, 12], [105, 54, 103], [105, 103, 101], [106, 6, 59], [106, 70, 6],
    [107, 71, 106], [107, 81, 108], [107, 108, 72], [108, 73, 9], [109, 17, 0],
    [112, 122, 111], [113, 122, 112], [115, 124, 114], [119, 127, 118], [121, 26, 120],
    [122, 18, 111], [122, 123, 19], [123, 20, 19], [123, 113, 114], [123, 122, 113],
    [123, 124, 20], [124, 21, 20], [124, 123, 114], [125, 21, 124], [125, 23, 22],
    [125, 115, 116], [125, 124, 115], [126, 116, 117], [126, 125, 116], [127, 117, 118],
    [127, 126, 117],
], dtype=np.int64)
# fmt: on
"""Fixed triangulation (216, 3) of all 128 points for piecewise-affine warping: Delaunay of
`MEAN_SHAPE` inside `FACE_OUTLINE`, counter-clockwise in image coordinates (y down), every
edge of the outline, lip and eye polygons is a triangle edge, smallest angle 7.6 degrees."""


def teacher_points(mesh: np.ndarray) -> np.ndarray:
    """The 60 extra points (indices 68-127) from MediaPipe Face Mesh vertices.

    Args:
        mesh: ``(..., 478, 2)`` refined Face Mesh vertices (with irises), any units.

    Returns:
        ``(..., 60, 2)`` points in the same units, in scheme order 68-127.

    Example:
        >>> mesh = np.zeros((478, 2)); mesh[468] = (3.0, 4.0)
        >>> teacher_points(mesh)[88 - 68].tolist()
        [3.0, 4.0]
    """
    mesh = np.asarray(mesh)
    if mesh.shape[-2:] != (478, 2):
        raise ValueError(f"expected MediaPipe mesh of shape (..., 478, 2), got {mesh.shape}")
    return np.einsum("pv,...vc->...pc", _TEACHER_MATRIX, mesh)


def _teacher_matrix() -> np.ndarray:
    w = np.zeros((60, 478))
    for point, definition in TEACHER_DEFINITIONS.items():
        for vertex, weight in definition:
            w[point - 68, vertex] = weight
    return w


_TEACHER_MATRIX = _teacher_matrix()
