"""Heatmap decoding and rendering for HRNet-128, batched and vectorised.

Coordinates inside a crop are *normalised*: (0, 0) is the crop's top-left corner and (1, 1)
its bottom-right corner, so a heatmap cell ``(u, v)`` of a ``W x H`` heatmap has its centre
at ``((u + 0.5) / W, (v + 0.5) / H)`` whatever the input size and stride of the model. The
affine ``crop_to_frame`` ``(N, 2, 3)`` maps normalised crop coordinates to frame pixels; it
comes from `facestream.models.crops`.

Example:
    >>> import torch
    >>> hm = render_heatmaps(torch.tensor([[[0.25, 0.5]]]), (32, 32), sigma=1.5)
    >>> points, conf = decode_heatmaps(hm, torch.eye(2, 3)[None] * 128)
    >>> [round(v, 3) for v in points[0, 0].tolist()], round(conf[0, 0].item(), 2)
    ([32.0, 64.0], 1.0)
"""

from __future__ import annotations

import functools
import math

import torch

TARGET_SIGMA = 1.5
"""Width of the training targets' Gaussians, in heatmap cells. Decoding blurs by the same
width before the sub-pixel step (DARK's modulation): on the human-labelled train crops it
lowered NME from 4.68% to 4.43%, the best of the widths 0.5-2 tried (see the model card,
models/weights/MODEL_CARD.md)."""


@functools.lru_cache(maxsize=8)
def _window_weights(sigma: float) -> torch.Tensor:
    """``(S * S, C)`` weights over an ``S x S`` window centred on a peak: columns 0-8 pick
    its raw 3x3 neighbourhood (row-major ``[dy, dx]``); with ``sigma > 0`` (``S = 2R + 3``,
    ``R = 3 sigma``), columns 9-17 give that neighbourhood blurred by a Gaussian of
    ``sigma`` cells. Without a blur the window is the 3x3 neighbourhood itself (``S = 3``,
    ``C = 9``)."""
    if sigma <= 0:
        return torch.eye(9, dtype=torch.float64)
    radius = max(1, round(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = torch.outer(kernel, kernel) / kernel.sum() ** 2
    size = 2 * radius + 3
    weights = torch.zeros(size, size, 18, dtype=torch.float64)
    for i in range(3):
        for j in range(3):
            weights[radius + i, radius + j, 3 * i + j] = 1.0
            weights[i : i + 2 * radius + 1, j : j + 2 * radius + 1, 9 + 3 * i + j] = kernel
    return weights.reshape(size * size, 18)


# Central differences at the centre of a 3x3 neighbourhood (row-major ``[dy, dx]``), one
# column each: dx, dy, dxx, dyy, dxy. One product gives all five for every point (the
# decoding of one face is ~130 small tensor operations otherwise, each costing more than its
# arithmetic).
# fmt: off
_DERIVATIVES = torch.tensor([
    #  dx    dy    dxx   dyy   dxy
    [ 0.0,  0.0,  0.0,  0.0,  0.25],  # (-1, -1)
    [ 0.0, -0.5,  0.0,  1.0,  0.0 ],  # (-1,  0)
    [ 0.0,  0.0,  0.0,  0.0, -0.25],  # (-1, +1)
    [-0.5,  0.0,  1.0,  0.0,  0.0 ],  # ( 0, -1)
    [ 0.0,  0.0, -2.0, -2.0,  0.0 ],  # ( 0,  0)
    [ 0.5,  0.0,  1.0,  0.0,  0.0 ],  # ( 0, +1)
    [ 0.0,  0.0,  0.0,  0.0, -0.25],  # (+1, -1)
    [ 0.0,  0.5,  0.0,  1.0,  0.0 ],  # (+1,  0)
    [ 0.0,  0.0,  0.0,  0.0,  0.25],  # (+1, +1)
], dtype=torch.float64)
# fmt: on


def decode_heatmaps(
    heatmaps: torch.Tensor, crop_to_frame: torch.Tensor, blur_sigma: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Landmarks in frame pixels and their confidence from a batch of heatmaps.

    The peak of each heatmap is found by argmax, refined to sub-pixel precision by a
    second-order Taylor expansion of the log-heatmap around it (DARK, Zhang et al. 2020; exact
    for Gaussian peaks), then mapped through ``crop_to_frame``.

    Args:
        heatmaps: ``(N, K, H, W)`` heatmaps (any float dtype, any device).
        crop_to_frame: ``(N, 2, 3)`` affines from normalised crop coordinates to frame pixels.
        blur_sigma: optional Gaussian smoothing (in heatmap cells) before the Taylor step, as
            DARK's distribution modulation; 0 keeps the heatmap as it is.

    Returns:
        ``points`` ``(N, K, 2)`` float32 frame pixels and ``confidence`` ``(N, K)`` float32:
        the heatmap's value at the refined peak (targets peak at 1), clipped to [0, 1].
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got {tuple(heatmaps.shape)}")
    n, k, h, w = heatmaps.shape
    if crop_to_frame.shape != (n, 2, 3):
        raise ValueError(f"crop_to_frame must be ({n}, 2, 3), got {tuple(crop_to_frame.shape)}")
    hm = heatmaps if heatmaps.dtype == torch.float32 else heatmaps.float()
    flat = hm.reshape(n, k, h * w)
    if flat.device.type == "cpu":
        # NumPy's argmax: torch's CPU max/argmax over 1,024 cells took ~115 us for 128 maps,
        # about a quarter of the whole decoding; NumPy's takes ~12 us.
        index = torch.from_numpy(flat.detach().numpy().argmax(axis=2))
    else:
        index = flat.argmax(dim=2)
    x = index % w
    y = torch.div(index, w, rounding_mode="floor")

    # The log is taken only on the 3x3 neighbourhoods of the peaks (9 values per point). With
    # a blur, a window around each peak gives both the raw and the blurred neighbourhood in
    # one product (a whole-map blur of 128 maps cost more than the model's head on a CPU).
    weights = _window_weights(float(blur_sigma)).to(hm)
    half = math.isqrt(weights.shape[0]) // 2
    steps = torch.arange(-half, half + 1, device=hm.device)
    xs = (x.unsqueeze(-1) + steps).clamp(0, w - 1)  # clamping = replicate borders
    ys = (y.unsqueeze(-1) + steps).clamp(0, h - 1)
    window = flat.gather(2, (ys.unsqueeze(-1) * w + xs.unsqueeze(-2)).reshape(n, k, -1))
    around = window @ weights  # (N, K, 9): raw; (N, K, 18): raw, then blurred
    peak = around[..., 4]
    log = around.clamp_min(1e-10).log().reshape(n, k, -1, 9)
    derivatives = log @ _DERIVATIVES.to(log)  # (N, K, 1 or 2, 5): raw[, blurred]
    raw = derivatives[:, :, 0]
    dx, dy, dxx, dyy, dxy = derivatives[:, :, -1].unbind(-1)
    det = dxx * dyy - dxy**2
    inside = (x > 0) & (x < w - 1) & (y > 0) & (y < h - 1)
    # A maximum has a negative-definite Hessian; elsewhere (flat or border) keep the argmax.
    valid = inside & (det > 1e-12) & (dxx < 0)
    step = (
        torch.stack([dxy * dy - dyy * dx, dxy * dx - dxx * dy], -1)
        / det.clamp_min(1e-12)[..., None]
    )
    offset = torch.where(valid[..., None], step, 0.0).clamp(-1.0, 1.0)  # (N, K, 2) cells
    # Value of the raw heatmap's Taylor model at the refined peak: an off-grid Gaussian peak
    # of height 1 still gives confidence 1, blurred or not.
    off_x, off_y = offset.unbind(-1)
    terms = torch.stack([off_x, off_y, 0.5 * off_x**2, 0.5 * off_y**2, off_x * off_y], -1)
    gain = (raw * terms).sum(-1)

    cells = torch.stack([x, y], -1).to(torch.float32) + offset + 0.5
    unit = cells / torch.tensor([w, h], dtype=torch.float32, device=hm.device)
    affine = crop_to_frame.to(device=hm.device, dtype=torch.float32)
    points = unit @ affine[:, :, :2].transpose(1, 2) + affine[:, None, :, 2]
    return points, (peak * gain.clamp(0.0, 1.0).exp()).clamp(0.0, 1.0)


def render_heatmaps(
    points: torch.Tensor, size: tuple[int, int], sigma: float, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Gaussian target heatmaps (peak 1) for points in normalised crop coordinates.

    The inverse of `decode_heatmaps` (with the identity affine), for training targets.

    Args:
        points: ``(N, K, 2)`` normalised crop coordinates.
        size: heatmap ``(H, W)``.
        sigma: Gaussian standard deviation in heatmap cells.

    Returns:
        ``(N, K, H, W)`` heatmaps on the device of ``points``.
    """
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"points must be (N, K, 2), got {tuple(points.shape)}")
    h, w = size
    cx = points[..., 0:1].to(dtype) * w - 0.5  # (N, K, 1), in heatmap cells
    cy = points[..., 1:2].to(dtype) * h - 0.5
    xs = torch.arange(w, dtype=dtype, device=points.device)
    ys = torch.arange(h, dtype=dtype, device=points.device)
    gx = torch.exp(-((xs - cx) ** 2) / (2 * sigma**2))  # (N, K, W)
    gy = torch.exp(-((ys - cy) ** 2) / (2 * sigma**2))  # (N, K, H)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)
