"""The dense piecewise-affine warp: exact on a known affine, CPU and torch agree."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial import Delaunay

from facestream.filters.warp import (
    build_warp_map,
    build_warp_map_torch,
    points_box,
    remap,
    remap_torch,
)


def textured_image(h: int = 240, w: int = 320) -> np.ndarray:
    """A smooth, everywhere-distinct texture: bilinear sampling of it is near exact."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 127 + 100 * np.sin(x / 17.0) * np.cos(y / 23.0)
    g = 127 + 100 * np.sin((x + y) / 29.0)
    b = 127 + 100 * np.cos((x - 2 * y) / 31.0)
    return np.stack([r, g, b], axis=2).astype(np.uint8)


def mesh(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(40, 180, (60, 2)).astype(np.float32)
    return pts, Delaunay(pts).simplices.astype(np.int32)


AFFINE = np.array([[1.2, 0.15, 14.0], [-0.1, 0.9, 22.0]], np.float32)


def test_known_affine_is_reproduced_exactly():
    src, tri = mesh()
    dst = src @ AFFINE[:, :2].T + AFFINE[:, 2]
    image = textured_image()
    box = points_box(dst, (400, 400))
    warp = build_warp_map(src, dst, tri, box)
    # Inside the mesh, every pixel must map back through the inverse affine.
    inv = cv2.invertAffineTransform(AFFINE)
    ys, xs = np.mgrid[box[1] : box[3], box[0] : box[2]].astype(np.float32)
    expect_x = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    expect_y = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    assert warp.valid.sum() > 5000
    assert np.abs(warp.map_x - expect_x)[warp.valid].max() < 1e-3
    assert np.abs(warp.map_y - expect_y)[warp.valid].max() < 1e-3
    # The pixels equal one global warpAffine of the image, inside the mesh.
    whole = cv2.warpAffine(image, AFFINE, (400, 400), flags=cv2.INTER_LINEAR)
    got = remap(image, warp).astype(int)
    ref = whole[box[1] : box[3], box[0] : box[2]].astype(int)
    assert np.abs(got - ref)[warp.valid].max() <= 1


def test_pixels_outside_the_mesh_are_marked_invalid():
    src, tri = mesh(1)
    warp = build_warp_map(src, src, tri, (0, 0, 240, 240))
    hull = cv2.convexHull(src)[:, 0]
    assert not warp.valid[5, 5]
    assert cv2.pointPolygonTest(hull, (5.0, 5.0), False) < 0
    centre = src.mean(axis=0).round().astype(int)
    assert warp.valid[centre[1], centre[0]]


def test_too_many_triangles_is_refused():
    src = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="triangles"):
        build_warp_map(src, src, np.zeros((300, 3), np.int32), (0, 0, 4, 4))


DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
        ],
    ),
]


@pytest.mark.parametrize("device", DEVICES)
def test_torch_warp_agrees_with_cpu(device):
    src, tri = mesh(2)
    rng = np.random.default_rng(3)
    dst = src * 1.1 + rng.normal(0, 3, src.shape).astype(np.float32) + 10
    image = textured_image()
    box = points_box(dst, (400, 400))
    warp = build_warp_map(src, dst, tri, box)
    map_x, map_y, valid = build_warp_map_torch(src, dst, tri, box, torch.device(device))
    assert torch.equal(valid.cpu(), torch.from_numpy(warp.valid))
    assert np.abs(map_x.cpu().numpy() - warp.map_x)[warp.valid].max() < 1e-3
    assert np.abs(map_y.cpu().numpy() - warp.map_y)[warp.valid].max() < 1e-3
    tensor = torch.from_numpy(image).permute(2, 0, 1).float().to(device)
    got = remap_torch(tensor, map_x, map_y).permute(1, 2, 0).cpu().numpy()
    ref = remap(image, warp).astype(np.float32)
    # cv2.remap interpolates with 5-bit fixed-point weights: within one grey level.
    assert np.abs(got - ref)[warp.valid].max() <= 1.0
