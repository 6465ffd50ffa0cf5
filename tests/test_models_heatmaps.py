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


def _reference_decode(hm, affine, sigma):
    """DARK point by point in float64, as written in its paper: argmax of the raw map, the
    log of the (blurred, replicate borders) map's 3x3 neighbourhood, the Newton step, the
    raw map's Taylor value at it, the affine. Slow and plain: the oracle of the batched path."""
    n, k, h, w = hm.shape
    hm = hm.double()
    blurred = hm
    if sigma > 0:
        radius = max(1, round(3 * sigma))
        t = torch.arange(-radius, radius + 1, dtype=torch.float64)
        g = torch.exp(-(t**2) / (2 * sigma**2))
        g = (g / g.sum()).view(1, 1, 1, -1)
        x = F.pad(hm.reshape(n * k, 1, h, w), (radius,) * 4, mode="replicate")
        blurred = F.conv2d(F.conv2d(x, g), g.transpose(2, 3)).reshape(n, k, h, w)
    points = torch.zeros(n, k, 2, dtype=torch.float64)
    conf = torch.zeros(n, k, dtype=torch.float64)
    for i in range(n):
        for j in range(k):
            cy, cx = divmod(int(hm[i, j].argmax()), w)
            rows = [min(max(cy + d, 0), h - 1) for d in (-1, 0, 1)]
            cols = [min(max(cx + d, 0), w - 1) for d in (-1, 0, 1)]
            derivatives = []
            for m in (hm[i, j], blurred[i, j]):
                L = m[rows][:, cols].clamp_min(1e-10).log()
                derivatives.append(
                    (
                        (L[1, 2] - L[1, 0]) / 2,
                        (L[2, 1] - L[0, 1]) / 2,
                        L[1, 2] - 2 * L[1, 1] + L[1, 0],
                        L[2, 1] - 2 * L[1, 1] + L[0, 1],
                        (L[2, 2] - L[2, 0] - L[0, 2] + L[0, 0]) / 4,
                    )
                )
            dx, dy, dxx, dyy, dxy = derivatives[1]
            det = dxx * dyy - dxy**2
            ox = oy = 0.0
            if 0 < cx < w - 1 and 0 < cy < h - 1 and det > 1e-12 and dxx < 0:
                ox = float((-(dyy * dx - dxy * dy) / det).clamp(-1, 1))
                oy = float((-(dxx * dy - dxy * dx) / det).clamp(-1, 1))
            dx, dy, dxx, dyy, dxy = derivatives[0]
            gain = dx * ox + dy * oy + 0.5 * (dxx * ox**2 + 2 * dxy * ox * oy + dyy * oy**2)
            conf[i, j] = (hm[i, j, cy, cx] * gain.clamp(0, 1).exp()).clamp(0, 1)
            unit = torch.tensor([(cx + ox + 0.5) / w, (cy + oy + 0.5) / h, 1.0], dtype=hm.dtype)
            points[i, j] = affine[i].double() @ unit
    return points, conf


@pytest.mark.parametrize("sigma", [0.0, 1.5])
def test_batched_decoding_equals_the_plain_reference(sigma):
    """Noisy, skewed, flat and border peaks in 200 px crops: the batched decoding equals the
    point-by-point float64 reference within 1e-4 px and 1e-5 in confidence."""
    g = torch.Generator().manual_seed(3)
    n, k = 3, 40
    points = torch.rand(n, k, 2, generator=g) * 1.1 - 0.05  # some on and past the borders
    hm = render_heatmaps(points, (32, 32), 1.5) * (0.2 + 0.8 * torch.rand(n, k, 1, 1, generator=g))
    hm = hm + 0.1 * torch.rand(n, k, 32, 32, generator=g) ** 3
    hm[0, :3] = 0.0  # flat maps: the argmax, no step
    affine = _affines(n, seed=3)
    affine[:, :, :2] *= 200 / affine[:, 0, :2].norm(dim=1)[:, None, None]
    decoded, conf = decode_heatmaps(hm, affine, blur_sigma=sigma)
    expected, expected_conf = _reference_decode(hm, affine, sigma)
    assert (decoded.double() - expected).abs().max() < 1e-4
    assert (conf.double() - expected_conf).abs().max() < 1e-5
