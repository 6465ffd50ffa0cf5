"""Heatmap decoding: planted peaks, affine mapping, confidence, rendering round trip."""

import math

import pytest
import torch
import torch.nn.functional as F

from facestream.models.heatmaps import decode_heatmaps, render_heatmaps


def _affines(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        angle = float(torch.rand(1, generator=g)) * 2 * math.pi
        scale = 50 + 200 * float(torch.rand(1, generator=g))
        c, s = math.cos(angle) * scale, math.sin(angle) * scale
        t = torch.rand(2, generator=g) * 500
        out.append(torch.tensor([[c, -s, t[0]], [s, c, t[1]]]))
    return torch.stack(out)


@pytest.mark.parametrize("size,sigma", [((32, 32), 1.0), ((64, 64), 2.0), ((28, 36), 1.5)])
def test_planted_peaks_recovered_to_subpixel(size, sigma):
    g = torch.Generator().manual_seed(1)
    n, k = 4, 128
    points = 0.1 + 0.8 * torch.rand(n, k, 2, generator=g)  # off-grid on purpose
    hm = render_heatmaps(points, size, sigma)
    affine = _affines(n)
    decoded, conf = decode_heatmaps(hm, affine)
    assert decoded.dtype == torch.float32 and decoded.shape == (n, k, 2)
    # Error measured in heatmap cells: back to normalised crop coordinates first.
    expected = points @ affine[:, :, :2].transpose(1, 2) + affine[:, None, :, 2]
    scale = affine[:, 0, :2].norm(dim=1)[:, None, None]
    cells = torch.tensor([size[1], size[0]])
    err_cells = ((decoded - expected) / scale * cells).norm(dim=-1)
    assert err_cells.max() < 0.05
    assert torch.allclose(conf, torch.ones_like(conf), atol=1e-3)


def test_argmax_alone_would_miss():
    # Guard that the test above exercises the refinement: the raw argmax is off by ~0.5.
    points = torch.tensor([[[9.95 / 32, 0.6]]])  # 0.45 cells from the nearest centre
    hm = render_heatmaps(points, (32, 32), 1.5)
    decoded, _ = decode_heatmaps(hm, torch.eye(2, 3)[None] * 32)
    idx = hm.flatten(2).argmax(-1).item()
    assert abs((idx % 32 + 0.5) - points[0, 0, 0] * 32) > 0.4
    assert (decoded[0, 0] - points[0, 0] * 32).abs().max() < 0.01


def test_confidence_follows_peak_and_border_is_safe():
    hm = render_heatmaps(torch.tensor([[[0.5, 0.5], [0.0, 1.0]]]), (16, 16), 1.0)
    hm[0, 0] *= 0.4
    decoded, conf = decode_heatmaps(hm, torch.eye(2, 3)[None])
    assert abs(conf[0, 0].item() - 0.4) < 1e-3
    assert torch.isfinite(decoded).all()
    flat = torch.zeros(1, 2, 8, 8)
    decoded, conf = decode_heatmaps(flat, torch.eye(2, 3)[None])
    assert torch.isfinite(decoded).all() and (conf == 0).all()


def test_blur_keeps_gaussian_peaks():
    points = torch.tensor([[[0.37, 0.52], [0.61, 0.44]]])
    hm = render_heatmaps(points, (32, 32), 1.5)
    decoded, _ = decode_heatmaps(hm, torch.eye(2, 3)[None], blur_sigma=1.0)
    assert (decoded - points).abs().max() * 32 < 0.05


def test_blur_matches_a_whole_map_blur_near_borders():
    """The windowed blur gives the points a whole-map blur (replicate borders) gives."""
    torch.manual_seed(0)
    points = torch.tensor([[[0.02, 0.5], [0.5, 0.98], [0.4, 0.6]]])
    hm = render_heatmaps(points, (32, 32), 1.5) + 0.05 * torch.rand(1, 3, 32, 32)
    sigma, radius = 1.0, 3
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).view(1, 1, 1, -1)
    x = F.pad(hm.reshape(3, 1, 32, 32), (radius,) * 4, mode="replicate")
    blurred = F.conv2d(F.conv2d(x, k), k.transpose(2, 3)).reshape(1, 3, 32, 32)
    # Same argmax as the windowed path (the raw map's), then the reference Taylor step.
    expected, _ = decode_heatmaps(blurred, torch.eye(2, 3)[None])
    decoded, _ = decode_heatmaps(hm, torch.eye(2, 3)[None], blur_sigma=sigma)
    same_peak = hm.flatten(2).argmax(2) == blurred.flatten(2).argmax(2)
    assert same_peak.all()
    assert torch.allclose(decoded, expected, atol=1e-5)


def test_half_precision_input():
    points = torch.tensor([[[0.4, 0.55]]])
    hm = render_heatmaps(points, (32, 32), 1.5).half()
    decoded, conf = decode_heatmaps(hm, torch.eye(2, 3)[None])
    assert decoded.dtype == torch.float32 and conf.dtype == torch.float32
    assert (decoded - points).abs().max() * 32 < 0.05


def test_bad_shapes():
    with pytest.raises(ValueError):
        decode_heatmaps(torch.zeros(2, 8, 8), torch.zeros(2, 2, 3))
    with pytest.raises(ValueError):
        decode_heatmaps(torch.zeros(2, 1, 8, 8), torch.zeros(1, 2, 3))
    with pytest.raises(ValueError):
        render_heatmaps(torch.zeros(2, 2), (8, 8), 1.0)
