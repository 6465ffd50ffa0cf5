"""The 128-point scheme: consistency of its indices, flip, polygons and triangulation."""

import numpy as np
import pytest

from facestream.models import landmarks as lm


def test_sizes_and_names():
    assert lm.NUM_POINTS == 128
    assert len(lm.NAMES) == 128 and len(set(lm.NAMES)) == 128
    assert lm.MEAN_SHAPE.shape == (128, 2) and lm.MEAN_SHAPE.dtype == np.float32
    assert np.array_equal(lm.IBUG68, np.arange(68))
    assert sorted(np.concatenate(list(lm.GROUPS.values())).tolist()) == list(range(128))
    assert len(lm.GROUPS["jaw"]) == 25 and len(lm.GROUPS["mouth"]) == 32
    assert sorted(lm.TEACHER_DEFINITIONS) == list(range(68, 128))


def test_flip_permutation_is_an_involution():
    perm = lm.FLIP_PERMUTATION
    assert sorted(perm.tolist()) == list(range(128))
    assert np.array_equal(perm[perm], np.arange(128))
    # The iBUG part follows the standard 300-W mirror pairs.
    assert perm[0] == 16 and perm[36] == 45 and perm[48] == 54 and perm[30] == 30


def test_flip_round_trip_and_mean_shape_mirrors_itself():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (128, 2))
    width = 100.0

    def flip(p):
        q = p.copy()
        q[:, 0] = width - q[:, 0]
        return q[lm.FLIP_PERMUTATION]

    assert np.allclose(flip(flip(points)), points)
    mirrored = lm.MEAN_SHAPE.copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    assert np.abs(mirrored[lm.FLIP_PERMUTATION] - lm.MEAN_SHAPE).max() < 1e-4


def test_mean_shape_is_upright_and_inside_unit_square():
    s = lm.MEAN_SHAPE
    assert s.min() >= 0 and s.max() <= 1
    assert s[36, 0] < s[45, 0]  # right eye on the image's left
    assert s[27, 1] < s[30, 1] < s[51, 1] < s[57, 1] < s[8, 1]  # top to bottom
    assert s[lm.GROUPS["forehead"], 1].max() < s[lm.GROUPS["eyes"], 1].min()


def test_flip_partners_have_mirrored_teacher_vertices():
    # Pairs of MediaPipe Face Mesh vertices that mirror each other (from its contour lists).
    mirror = {159: 386, 158: 385, 145: 374, 468: 473, 39: 269, 37: 267, 0: 0, 17: 17,
              84: 314, 181: 405, 78: 308, 82: 312, 87: 317, 152: 152, 148: 377, 149: 378,
              150: 379, 136: 365, 172: 397, 176: 400, 10: 10, 109: 338, 67: 297, 103: 332,
              54: 284, 21: 251, 162: 389}  # fmt: skip
    mirror.update({v: k for k, v in mirror.items()})
    checked = 0
    for i, definition in lm.TEACHER_DEFINITIONS.items():
        partner = lm.TEACHER_DEFINITIONS[int(lm.FLIP_PERMUTATION[i])]
        if all(v in mirror for v, _ in definition):
            assert sorted((mirror[v], w) for v, w in definition) == sorted(partner)
            checked += 1
    assert checked >= 30


def test_teacher_points_batched_and_weighted():
    rng = np.random.default_rng(1)
    mesh = rng.uniform(0, 1, (3, 2, 478, 2))
    out = lm.teacher_points(mesh)
    assert out.shape == (3, 2, 60, 2)
    a, b = (v for v, _ in lm.TEACHER_DEFINITIONS[71])  # jaw_7_8: midpoint of two vertices
    assert np.allclose(out[..., 71 - 68, :], (mesh[..., a, :] + mesh[..., b, :]) / 2)
    with pytest.raises(ValueError):
        lm.teacher_points(np.zeros((468, 2)))


def _polygon_area(p):
    return 0.5 * np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1])


def test_polygons_are_simple_and_consistent():
    for poly in (lm.FACE_OUTLINE, lm.OUTER_MOUTH, lm.INNER_MOUTH, lm.LEFT_EYE, lm.RIGHT_EYE):
        assert len(set(poly.tolist())) == len(poly)
        assert abs(_polygon_area(lm.MEAN_SHAPE[poly])) > 1e-4
    # The outline holds every other point strictly inside it.
    from matplotlib.path import Path

    inside = Path(lm.MEAN_SHAPE[lm.FACE_OUTLINE]).contains_points(lm.MEAN_SHAPE)
    others = np.setdiff1d(np.arange(128), lm.FACE_OUTLINE)
    assert inside[others].all()


def test_triangulation_covers_the_outline_without_slivers():
    tri, shape = lm.TRIANGLES, lm.MEAN_SHAPE.astype(np.float64)
    assert tri.shape[1] == 3 and tri.min() == 0 and tri.max() == 127
    assert np.unique(tri).size == 128  # every point is used
    a, b, c = shape[tri[:, 0]], shape[tri[:, 1]], shape[tri[:, 2]]
    cross = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]
    assert (cross > 0).all()  # consistently oriented, none degenerate
    # The triangles tile exactly the face outline polygon.
    assert np.isclose(cross.sum() / 2, abs(_polygon_area(shape[lm.FACE_OUTLINE])), rtol=1e-6)
    # No sliver: every angle at least 5 degrees.
    for k in range(3):
        u = shape[tri[:, (k + 1) % 3]] - shape[tri[:, k]]
        v = shape[tri[:, (k + 2) % 3]] - shape[tri[:, k]]
        cos = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
        assert np.degrees(np.arccos(cos)).min() > 5
    # Polygon edges are triangle edges, so no triangle bridges the mouth or an eye.
    edges = {frozenset(e) for t in tri.tolist() for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
    for poly in (lm.FACE_OUTLINE, lm.OUTER_MOUTH, lm.INNER_MOUTH, lm.LEFT_EYE, lm.RIGHT_EYE):
        for e in zip(poly.tolist(), np.roll(poly, -1).tolist(), strict=True):
            assert frozenset(e) in edges


def test_module_imports_numpy_only():
    import subprocess
    import sys

    code = "import sys, facestream.models.landmarks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
