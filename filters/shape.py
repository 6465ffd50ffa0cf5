"""Identity in shape: landmarks split into rigid pose, identity shape and expression.

A face's points are aligned to the canonical `MEAN_SHAPE` by a similarity (Procrustes):
what the similarity removes is the pose; what is left is identity shape plus expression.
For a target seen over many frames its identity is the running mean of its canonical
shapes and its expression is the difference from that mean. The swapped face is drawn on
the source's identity with the target's expression and pose, region by region as far as
`IDENTITY_REGIONS` says.

Example:
    >>> import numpy as np
    >>> ref = np.array([[0, 0], [1, 0], [0, 1]], np.float32)
    >>> pose = fit_similarity(ref * 3 + 5, ref)
    >>> np.allclose(to_canonical(ref * 3 + 5, pose), ref, atol=1e-5)
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from facestream.models.landmarks import FACE_OUTLINE, GROUPS, IRIS_CENTRES, LEFT_EYE, RIGHT_EYE

# Each eye opening (outer corner first for the right eye, inner first for the left, as in
# the scheme) with its iris centre.
EYE_OPENINGS: tuple[tuple[np.ndarray, int], ...] = (
    (np.asarray(RIGHT_EYE, np.int64), int(IRIS_CENTRES[0])),
    (np.asarray(LEFT_EYE, np.int64), int(IRIS_CENTRES[1])),
)


def face_size(points: np.ndarray) -> float:
    """sqrt of the face outline's area: a pose-robust face scale in pixels."""
    outline = points[np.asarray(FACE_OUTLINE)].astype(np.float32)
    return float(np.sqrt(max(cv2.contourArea(outline), 1.0)))


@dataclass(frozen=True)
class Similarity:
    """`frame = scale * R @ canonical + translation` (R a 2x2 rotation)."""

    scale: float
    rotation: np.ndarray  # (2, 2)
    translation: np.ndarray  # (2,)


def fit_similarity(points: np.ndarray, reference: np.ndarray) -> Similarity:
    """The least-squares similarity taking `reference` onto `points` (Umeyama)."""
    p = points.astype(np.float64)
    r = reference.astype(np.float64)
    mp, mr = p.mean(axis=0), r.mean(axis=0)
    pc, rc = p - mp, r - mr
    u, s, vt = np.linalg.svd(pc.T @ rc)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, d]) @ vt
    scale = (s[0] + d * s[1]) / max((rc**2).sum(), 1e-12)
    return Similarity(float(scale), rot, mp - scale * rot @ mr)


def to_canonical(points: np.ndarray, pose: Similarity) -> np.ndarray:
    """Undo `pose`: points in the canonical frame."""
    return ((points - pose.translation) @ pose.rotation / pose.scale).astype(np.float32)


def to_frame(canonical: np.ndarray, pose: Similarity) -> np.ndarray:
    """Apply `pose` to canonical points."""
    return (pose.scale * canonical @ pose.rotation.T + pose.translation).astype(np.float32)


_OPENINGS = np.stack([eye for eye, _ in EYE_OPENINGS])
_IRISES = np.array([iris for _, iris in EYE_OPENINGS])


def eye_affines(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """`(2, 2, 3)`: per eye (`EYE_OPENINGS` order) the least-squares affine taking the
    opening's points in `src` onto those in `dst` (both `(N, 2)` landmarks). Both eyes in
    one batched solve of the normal equations: this runs on every face and frame."""
    design = np.concatenate(
        [src[_OPENINGS].astype(np.float64), np.ones((*_OPENINGS.shape, 1))], axis=2
    )
    across = design.transpose(0, 2, 1)
    solution = np.linalg.solve(across @ design, across @ dst[_OPENINGS].astype(np.float64))
    return solution.transpose(0, 2, 1)


def irises_moved(points: np.ndarray, affines: np.ndarray, irises: np.ndarray) -> np.ndarray:
    """`points` with the iris centres set to `irises` `(N, 2)`'s taken through the eyes'
    `affines` (`eye_affines`)."""
    out = points.copy()
    centres = irises[_IRISES].astype(np.float64)
    out[_IRISES] = np.einsum("eij,ej->ei", affines[:, :, :2], centres) + affines[:, :, 2]
    return out


def keep_gaze(target: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """`drawn` with each iris centre where the target's sits in its own eye opening.

    Where the iris sits between the lids and corners is gaze, not identity: moved toward
    the source's identity shape it drifts toward where the source looked in its photo
    (and, over a clip where the target mostly looks aside, toward the middle).
    """
    return irises_moved(drawn, eye_affines(target, drawn), target)


class IdentityEstimate:
    """Running mean of one face track's canonical shape: its identity shape so far."""

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.count = 0

    def update(self, canonical: np.ndarray) -> np.ndarray:
        """Add one frame's canonical shape; return the identity estimate after it."""
        self.count += 1
        if self.mean is None:
            self.mean = canonical.astype(np.float64)
        else:
            self.mean += (canonical - self.mean) / self.count
        return self.mean.astype(np.float32)


# How far each landmark group (`GROUPS`) moves from the target's identity shape to the
# source's, before the overall `strength` (`SwapOptions.shape_strength`, 0.4). The outer
# lips stay the target's: they carry speech and moving them cost the most re-detected
# expression error for the least identity (dlib distance). Measured with
# `bench/swap_quality.py --shape-strength` (docs/SWAP.md, "Identity shape against
# expression and pose").
IDENTITY_REGIONS: dict[str, float] = {
    "jaw": 1.0,
    "brows": 1.0,
    "nose": 1.0,
    "eyes": 1.0,
    "mouth": 0.0,
    "cheeks": 1.0,
    "chin": 1.0,
    "forehead": 1.0,
}


def region_weights(regions: Mapping[str, float]) -> np.ndarray:
    """Per-point weights `(N,)` from per-group ones; groups not named get 0.

    Raises:
        ValueError: a name that is not a landmark group.
    """
    unknown = set(regions) - set(GROUPS)
    if unknown:
        raise ValueError(f"Unknown landmark groups {sorted(unknown)}; use {sorted(GROUPS)}.")
    weights = np.zeros(sum(len(v) for v in GROUPS.values()), np.float32)
    for group, weight in regions.items():
        weights[GROUPS[group]] = weight
    return weights


def reshape_to_source(
    target: np.ndarray,
    target_identity: np.ndarray,
    source_identity: np.ndarray,
    reference: np.ndarray,
    pinned: np.ndarray,
    strength: float = 1.0,
    regions: Mapping[str, float] | None = None,
    gaze: bool = True,
    pose: Similarity | None = None,
) -> np.ndarray:
    """Target points redrawn on the source's identity shape, with the target's pose and
    expression.

    Args:
        target: `(N, 2)` the target's points in the frame.
        target_identity: `(N, 2)` the target's canonical identity estimate.
        source_identity: `(N, 2)` the source's canonical shape.
        reference: `(N, 2)` the canonical frame (`MEAN_SHAPE`) the poses are fit against.
        pinned: int indices of points kept exactly where the target has them (the outer
            outline, so the background never shows, and the inner lips, so the target's
            mouth interior stays in place).
        strength: 0 keeps the target's shape, 1 takes the source's as far as `regions`
            says.
        regions: per-group share of the source's identity shape (`IDENTITY_REGIONS`, read
            at call time, when None).
        gaze: the iris centres keep the target's place in the redrawn eye openings
            (`keep_gaze`); False moves them with the rest of the eyes.
        pose: `fit_similarity(target, reference)` where the caller has it already.
    """
    weights = region_weights(IDENTITY_REGIONS if regions is None else regions)
    if pose is None:
        pose = fit_similarity(target, reference)
    canonical = to_canonical(target, pose)
    moved = canonical + strength * weights[:, None] * (source_identity - target_identity)
    out = to_frame(moved, pose)
    if gaze:
        out = keep_gaze(target, out)
    out[pinned] = target[pinned]
    return out
