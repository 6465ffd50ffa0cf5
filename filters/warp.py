"""Piecewise-affine warp over a landmark triangulation as one dense remap.

Every pixel of the destination box gets the id of the destination triangle that covers it
(rasterised once with `cv2.fillPoly`), each triangle's destination→source affine is solved
in one batched call, and the per-pixel source coordinates come from one vectorised gather.
The image is then resampled by a single `cv2.remap` (CPU) or `grid_sample` (torch), never by
a loop of per-triangle `warpAffine` calls.

Example:
    >>> import numpy as np
    >>> tri = np.array([[0, 1, 2], [1, 3, 2]])
    >>> dst = np.array([[0, 0], [9, 0], [0, 9], [9, 9]], np.float32)
    >>> m = build_warp_map(dst + 0.5, dst, tri, (0, 0, 10, 10))
    >>> bool(m.valid[5, 5]), float(m.map_x[5, 5])
    (True, 5.5)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # torch is imported where used: the CLI's argument helpers import this module
    import torch

Box = tuple[int, int, int, int]


@dataclass
class WarpMap:
    """Source coordinates for every pixel of a destination box `(x0, y0, x1, y1)`."""

    box: Box
    map_x: np.ndarray  # float32 (h, w), source x per destination pixel
    map_y: np.ndarray  # float32 (h, w)
    valid: np.ndarray  # bool (h, w), inside some triangle


def points_box(points: np.ndarray, shape: tuple[int, ...], pad: int = 2) -> Box:
    """The integer box around `points`, padded and clipped to an image of `shape`."""
    h, w = shape[:2]
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + pad + 1
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)


def triangle_affines(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Affine maps `(T, 2, 3)` taking each destination triangle onto its source triangle.

    Solved in closed form for all triangles at once (a batched `np.linalg.solve` of 3x3
    systems costs several times more). Degenerate (zero-area) destination triangles map
    everything onto their first source vertex: they cover no pixel, or only edge pixels that
    their neighbours share.
    """
    d = dst[triangles].astype(np.float64)  # (T, 3, 2)
    s = src[triangles].astype(np.float64)
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]  # destination edge vectors
    f1, f2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]  # the same edges in the source
    det = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    degenerate = np.abs(det) < 1e-9
    inv_det = np.where(degenerate, 0.0, 1.0 / np.where(degenerate, 1.0, det))
    # Linear part L = [f1 f2] @ [e1 e2]^-1, then the offset takes d0 to s0.
    linear = np.empty((len(d), 2, 3))
    for row in range(2):
        linear[:, row, 0] = (f1[:, row] * e2[:, 1] - f2[:, row] * e1[:, 1]) * inv_det
        linear[:, row, 1] = (f2[:, row] * e1[:, 0] - f1[:, row] * e2[:, 0]) * inv_det
        linear[:, row, 2] = (
            s[:, 0, row] - linear[:, row, 0] * d[:, 0, 0] - linear[:, row, 1] * d[:, 0, 1]
        )
    return linear.astype(np.float32)


NO_TRIANGLE = 255  # id of pixels outside every triangle; ids are uint8 so cv2.LUT can gather


def rasterise_triangle_ids(dst: np.ndarray, triangles: np.ndarray, box: Box) -> np.ndarray:
    """uint8 `(h, w)` map of the destination triangle covering each pixel of `box`.

    Pixels outside every triangle hold `NO_TRIANGLE`. A planar triangulation of 128 points
    has at most 251 triangles, so the ids fit in a byte.
    """
    if len(triangles) >= NO_TRIANGLE:
        raise ValueError(f"at most {NO_TRIANGLE - 1} triangles fit a uint8 id map")
    x0, y0, x1, y1 = box
    ids = np.full((y1 - y0, x1 - x0), NO_TRIANGLE, np.uint8)
    # Fixed-point vertices (4 fractional bits) keep sub-pixel accuracy of the edges.
    shift = 4
    corners = dst[triangles] - (x0, y0)  # (T, 3, 2)
    # Triangles wholly outside the box draw nothing: skip their calls (the loop's cost is
    # mostly per call).
    inside = (corners.max(axis=1) >= 0).all(axis=1) & (
        corners.min(axis=1) < (x1 - x0, y1 - y0)
    ).all(axis=1)
    verts = (corners[inside] * (1 << shift)).round().astype(np.int32)
    fill = cv2.fillConvexPoly
    # Positional arguments and a plain loop over the rows: keywords or indexing each
    # triangle cost about as much as the fill itself here.
    for t, corner in zip(np.flatnonzero(inside).tolist(), verts, strict=True):
        fill(ids, corner, t, cv2.LINE_8, shift)
    return ids


def build_warp_map(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray, box: Box) -> WarpMap:
    """The dense map sending each pixel of `box` (destination) to its source coordinates.

    Args:
        src: `(N, 2)` landmark points in the source image.
        dst: `(N, 2)` the same landmarks in the destination image.
        triangles: `(T, 3)` int indices into the points.
        box: `(x0, y0, x1, y1)` destination pixel box to fill.
    """
    x0, y0, x1, y1 = box
    ids = rasterise_triangle_ids(dst, triangles, box)
    lut = np.zeros((256, 6), np.float32)
    lut[: len(triangles)] = triangle_affines(src, dst, triangles).reshape(-1, 6)
    table = [np.ascontiguousarray(lut[:, k]) for k in range(6)]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    # map = a x + b y + c per pixel, a b c gathered by triangle id (cv2.LUT: ~3x faster than
    # numpy fancy indexing), in place and through one reused scratch array, so only three
    # box-sized float arrays are ever alive: the working set stays in cache.
    maps = []
    scratch = np.empty(ids.shape, np.float32)
    for k in (0, 3):
        out: np.ndarray = cv2.LUT(ids, table[k])
        out *= xs
        cv2.LUT(ids, table[k + 1], dst=scratch)
        scratch *= ys
        out += scratch
        out += cv2.LUT(ids, table[k + 2], dst=scratch)
        maps.append(out)
    return WarpMap(box, maps[0], maps[1], ids != NO_TRIANGLE)


def remap(image: np.ndarray, warp: WarpMap) -> np.ndarray:
    """Resample `image` through `warp`: one `cv2.remap` giving the destination box's pixels."""
    return cv2.remap(image, warp.map_x, warp.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def remap_torch(image: torch.Tensor, map_x: torch.Tensor, map_y: torch.Tensor) -> torch.Tensor:
    """The same resampling with `grid_sample`, for images already on the GPU.

    Args:
        image: `(C, H, W)` float tensor.
        map_x: `(h, w)` source x per destination pixel (pixel units, same as `remap`).
        map_y: `(h, w)` source y per destination pixel.

    Returns:
        `(C, h, w)` tensor matching `remap` (bilinear, reflected border).
    """
    import torch
    import torch.nn.functional as F

    _, h, w = image.shape
    # align_corners=True maps -1/+1 to the centres of the corner pixels, as cv2 does.
    gx = map_x * (2.0 / max(w - 1, 1)) - 1.0
    gy = map_y * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)[None].to(image.dtype)
    out = F.grid_sample(
        image[None], grid, mode="bilinear", padding_mode="reflection", align_corners=True
    )
    return out[0]


def build_warp_map_torch(
    src: np.ndarray, dst: np.ndarray, triangles: np.ndarray, box: Box, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`build_warp_map` with the per-pixel work on `device`: `(map_x, map_y, valid)`.

    Landmarks arrive as numpy arrays (the contract), so the triangle ids are rasterised on
    the CPU (well under a millisecond) and only the int map travels; the affine gather runs
    on the device.
    """
    import torch

    x0, y0, x1, y1 = box
    ids = torch.from_numpy(rasterise_triangle_ids(dst, triangles, box)).to(device).long()
    aff = torch.from_numpy(triangle_affines(src, dst, triangles)).to(device)
    valid = ids != NO_TRIANGLE
    a = aff[torch.where(valid, ids, 0)]  # (h, w, 2, 3)
    xs = torch.arange(x0, x1, device=device, dtype=torch.float32)[None, :]
    ys = torch.arange(y0, y1, device=device, dtype=torch.float32)[:, None]
    map_x = a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2]
    map_y = a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2]
    return map_x, map_y, valid
