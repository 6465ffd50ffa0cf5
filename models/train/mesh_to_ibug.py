"""The 68 iBUG points from a MediaPipe Face Mesh: a ridge regression on normalised meshes.

Where no human 68-point label exists (stills, video frames), training uses the 68 points
predicted from the teacher mesh. The mapping is fitted on the human-labelled faces300w TRAIN
crops only, its ridge strength chosen by k-fold cross-validation on train, and its NME is
measured on faces300w eval. Run it after ``labels.py`` (``make labels`` runs both)::

    python -m facestream.models.train.mesh_to_ibug

It reads ``labels/faces300w.npz`` from the cache and writes ``labels/mesh_to_ibug.npz`` and
``labels/mesh_to_ibug.json`` (the figures). Numpy only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_MESH = 478
# Mesh vertices used to find the similarity transform: the 468 face vertices (not the iris,
# whose 10 points would only re-weight the eyes).
ALIGN_VERTICES = np.arange(468)
# Outer eye corners in iBUG order: the NME normaliser.
IBUG_EYE_CORNERS = (36, 45)
REGIONS = {
    "jaw": range(0, 17),
    "brows": range(17, 27),
    "nose": range(27, 36),
    "eyes": range(36, 48),
    "mouth": range(48, 68),
}
# The baseline: one Face Mesh vertex per iBUG point, the correspondence commonly circulated
# for MediaPipe-to-dlib conversions (jaw, brows, nose, eyes, outer lips, inner lips).
FIXED_VERTICES = np.array(
    [127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356]
    + [70, 63, 105, 66, 107, 336, 296, 334, 293, 300]
    + [168, 197, 5, 4, 75, 97, 2, 326, 305]
    + [33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380]
    + [61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181]
    + [78, 82, 13, 312, 308, 317, 14, 87]
)
# Cheek vertices (image left, image right on a frontal face) that give the yaw.
CHEEKS = (234, 454)
YAW_BINS = (0, 15, 30, 45, 90)
LAMBDAS = 10.0 ** np.arange(-4.0, 2.5, 0.5)
FOLDS = 5


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity (Umeyama) mapping each ``src`` onto ``dst``.

    Args:
        src: points ``(N, K, 2)``.
        dst: points ``(K, 2)``.

    Returns:
        ``a (N, 2, 2)`` (scale times rotation) and ``t (N, 2)`` with ``dst ≈ src @ a.T + t``.
    """
    mu_s = src.mean(1, keepdims=True)
    mu_d = dst.mean(0)
    s0 = src - mu_s
    d0 = dst - mu_d
    # For a 2D similarity the optimum has closed form: a = [[p, -q], [q, p]].
    norm = (s0**2).sum((1, 2))
    p = (s0[..., 0] * d0[:, 0] + s0[..., 1] * d0[:, 1]).sum(1) / norm
    q = (s0[..., 0] * d0[:, 1] - s0[..., 1] * d0[:, 0]).sum(1) / norm
    a = np.stack([np.stack([p, -q], -1), np.stack([q, p], -1)], -2)
    t = mu_d - np.einsum("nij,nj->ni", a, mu_s[:, 0])
    return a, t


def mean_shape(meshes: np.ndarray, iterations: int = 5) -> np.ndarray:
    """Generalised Procrustes mean of ``(N, 478, 2)`` meshes, centred, unit RMS radius."""
    ref = meshes[0, ALIGN_VERTICES]
    for _ in range(iterations):
        ref = (ref - ref.mean(0)) / np.sqrt(((ref - ref.mean(0)) ** 2).sum(1).mean())
        a, t = similarity(meshes[:, ALIGN_VERTICES], ref)
        ref = (np.einsum("nij,nkj->nki", a, meshes[:, ALIGN_VERTICES]) + t[:, None]).mean(0)
    return (ref - ref.mean(0)) / np.sqrt(((ref - ref.mean(0)) ** 2).sum(1).mean())


def ridge_fit(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression ``y ≈ x @ w + b`` (intercept not penalised). Returns ``(w, b)``."""
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    gram = xc.T @ xc + lam * len(x) * np.eye(x.shape[1])
    w = np.linalg.solve(gram, xc.T @ (y - my))
    return w, my - mx @ w


@dataclass(frozen=True)
class MeshToIbug:
    """Fitted mapping from a Face Mesh (478 points) to the 68 iBUG points.

    Example:
        >>> mapping = MeshToIbug.load(cache_dir() / "labels" / "mesh_to_ibug.npz")
        >>> points68 = mapping.predict(mesh)  # (478, 2|3) or (N, 478, 2|3) pixels
    """

    reference: np.ndarray  # (468, 2) canonical mesh the faces are aligned to
    weights: np.ndarray  # (478 * 2, 136)
    bias: np.ndarray  # (136,)
    lam: float

    @classmethod
    def fit(cls, meshes: np.ndarray, points: np.ndarray, lam: float) -> MeshToIbug:
        """Fit on ``(N, 478, 2+)`` meshes and their ``(N, 68, 2)`` points, both in pixels."""
        reference = mean_shape(meshes[..., :2])
        x, a, t = normalise(meshes, reference)
        y = np.einsum("nij,nkj->nki", a, points) + t[:, None]
        w, b = ridge_fit(x, y.reshape(len(y), -1), lam)
        return cls(reference, w, b, lam)

    def predict(self, meshes: np.ndarray) -> np.ndarray:
        """The 68 points in pixels for ``(478, 2+)`` or ``(N, 478, 2+)`` meshes."""
        single = meshes.ndim == 2
        batch = meshes[None] if single else meshes
        x, a, t = normalise(batch, self.reference)
        y = (x @ self.weights + self.bias).reshape(len(batch), 68, 2)
        out = np.einsum("nij,nkj->nki", np.linalg.inv(a), y - t[:, None]).astype(np.float32)
        return out[0] if single else out

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, reference=self.reference, weights=self.weights, bias=self.bias, lam=self.lam)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> MeshToIbug:
        with np.load(path) as f:
            return cls(f["reference"], f["weights"], f["bias"], float(f["lam"]))


def normalise(meshes: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, ...]:
    """Align meshes to ``reference``; returns features ``(N, 956)`` and the transforms."""
    a, t = similarity(meshes[:, ALIGN_VERTICES, :2].astype(np.float64), reference)
    aligned = np.einsum("nij,nkj->nki", a, meshes[..., :2]) + t[:, None]
    return aligned.reshape(len(meshes), -1), a, t


def mesh_yaw(meshes: np.ndarray) -> np.ndarray:
    """Head yaw in degrees from ``(..., 478, 3)`` meshes: 0 frontal, negative facing image left.

    The mapping is fitted on faces300w, where |yaw| rarely exceeds 45 degrees: beyond that its
    68 points (the jaw first) are an extrapolation.
    """
    d = meshes[..., CHEEKS[1], :] - meshes[..., CHEEKS[0], :]
    return np.degrees(np.arctan2(d[..., 2], d[..., 0]))


def point_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-point error ``(N, 68)`` in % of the outer-eye-corner distance (36-45)."""
    iod = np.linalg.norm(truth[:, IBUG_EYE_CORNERS[0]] - truth[:, IBUG_EYE_CORNERS[1]], axis=1)
    return 100 * np.linalg.norm(pred - truth, axis=2) / iod[:, None]


def nme_report(errors: np.ndarray) -> dict[str, float]:
    """Mean NME, median per-face NME and per-region NME from ``point_errors``."""
    per_face = errors.mean(1)
    report = {"nme": float(per_face.mean()), "nme_median": float(np.median(per_face))}
    report.update({k: float(errors[:, list(r)].mean()) for k, r in REGIONS.items()})
    report["failure_rate"] = float((per_face > 8).mean())
    return report


def cross_validate(meshes: np.ndarray, points: np.ndarray, seed: int = 0) -> dict[float, float]:
    """Mean k-fold NME on the given (train) faces for every lambda in ``LAMBDAS``."""
    folds = np.random.default_rng(seed).permutation(len(meshes)) % FOLDS
    scores = {}
    for lam in LAMBDAS:
        errors = []
        for k in range(FOLDS):
            fit = MeshToIbug.fit(meshes[folds != k], points[folds != k], float(lam))
            errors.append(point_errors(fit.predict(meshes[folds == k]), points[folds == k]))
        scores[float(lam)] = float(np.concatenate(errors).mean())
    return scores


def cache_dir() -> Path:
    """``$FACESTREAM_CACHE``, default ``~/.cache/facestream``."""
    return Path(os.environ.get("FACESTREAM_CACHE", Path.home() / ".cache" / "facestream"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="default: $FACESTREAM_CACHE")
    args = parser.parse_args(argv)
    labels = (args.cache or cache_dir()) / "labels"
    source = labels / "faces300w.npz"
    if not source.is_file():
        print(f"No teacher labels at {source}: run `make labels` first.", file=sys.stderr)
        return 1
    with np.load(source) as f:
        meshes, human, split = f["mesh"], f["human"], f["split"]
    found = np.isfinite(meshes).all((1, 2))
    train = (split == "train") & found
    test = (split == "eval") & found

    scores = cross_validate(meshes[train], human[train])
    lam = min(scores, key=scores.__getitem__)
    mapping = MeshToIbug.fit(meshes[train], human[train], lam)
    mapping.save(labels / "mesh_to_ibug.npz")

    errors = point_errors(mapping.predict(meshes[test]), human[test])
    yaw = np.abs(mesh_yaw(meshes[test]))
    by_yaw = {}
    for lo, hi in zip(YAW_BINS[:-1], YAW_BINS[1:], strict=True):
        sel = (yaw >= lo) & (yaw < hi)
        by_yaw[f"{lo}-{hi}"] = {
            "faces": int(sel.sum()),
            "nme": float(errors[sel].mean()) if sel.any() else None,
        }
    report = {
        "lambda": lam,
        "cv_nme": scores,
        "train_faces": int(train.sum()),
        "eval_faces": int(test.sum()),
        "eval_missed": int(((split == "eval") & ~found).sum()),
        "ridge": nme_report(errors),
        "ridge_by_abs_yaw": by_yaw,
        "fixed_vertices": nme_report(
            point_errors(meshes[test][:, FIXED_VERTICES, :2], human[test])
        ),
    }
    (labels / "mesh_to_ibug.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
