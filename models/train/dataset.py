"""Training samples: 128-point targets from the label store, cropped as the engine crops.

A target is the 68 iBUG points (human where faces300w has them, else mapped from the teacher
mesh) followed by the 60 extra points of the scheme, computed from the teacher mesh. Each
point carries a weight by provenance: human labels count more than teacher or mapped ones.

The crop is the engine's own rotation-normalised crop of the face's landmarks
(`facestream.models.crops`: what the tracker hands the model from one frame to the next),
cut the engine's way and jittered and augmented (``augment.py``) so the model also sees what
detector crops and live video look like.
Every random choice of a sample comes from its own seed, so an epoch is reproducible in
any worker process and a resumed run sees exactly the samples it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from facestream.models.crops import apply_affines, crop_from_landmarks, cut_crops, invert_affines
from facestream.models.landmarks import NUM_POINTS, teacher_points
from facestream.models.train.augment import AugmentConfig, flip_crop, photometric
from facestream.models.train.label_store import LabelItem, Provenance

# Loss weight of a point by where its label comes from. Mapped iBUG points (the ridge mapping
# of the mesh, about 3.5% NME) are the least exact, so they count least.
PROVENANCE_WEIGHT = {Provenance.HUMAN: 1.0, Provenance.TEACHER: 0.5, Provenance.MAPPED: 0.25}
# How many times an epoch visits each kind of face: the human-labelled crops are the scarce
# and exact ones; video frames of one clip are much alike, so half of them per epoch.
# Beyond this head yaw the ridge mapping extrapolates (faces300w train has one such face).
MAPPED_MAX_YAW = 45.0
EPOCH_REPEATS = {"faces300w": 2.0, "stills": 1.0, "videos": 0.5}
# Clips whose frames never enter training: the temporal benchmarks (raw jitter against
# MediaPipe, the smoothers' jitter and lag) measure the model on them, so it must not have
# seen them.
HELD_OUT_CLIPS = ("videos/retalking/1.mp4", "videos/spectre/M003_level_1_disgusted_015.mp4")


@dataclass(frozen=True)
class Sample:
    """One training face: the image, its 128 target points in image pixels and weights."""

    image: Path
    points: np.ndarray  # (128, 2) float32
    weight: np.ndarray  # (128,) float32
    kind: str


def is_held_out(item: LabelItem) -> bool:
    """Whether a face comes from one of the clips kept out of training."""
    return item.kind == "videos" and item.source in HELD_OUT_CLIPS


def sample_from_label(item: LabelItem) -> Sample:
    """The 128-point target and per-point weights of one labelled face."""
    points = np.concatenate([item.ibug68, teacher_points(item.mesh[:, :2])]).astype(np.float32)
    weight = np.empty(NUM_POINTS, np.float32)
    weight[:68] = [PROVENANCE_WEIGHT[Provenance(p)] for p in item.ibug_provenance]
    if abs(item.yaw) > MAPPED_MAX_YAW:
        weight[:68][item.ibug_provenance == Provenance.MAPPED] *= 0.25
    weight[68:] = PROVENANCE_WEIGHT[Provenance.TEACHER]
    return Sample(item.image, points, weight, item.kind)


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"Cannot read image {path}.")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class LandmarkDataset(Dataset):
    """Augmented model crops and their points; indexed by ``(sample index, seed)``.

    Returns a dict with ``image`` ``(3, S, S)`` uint8, ``points`` ``(128, 2)`` float32 in
    normalised crop coordinates ((0, 0) top-left corner, (1, 1) bottom-right, as
    `facestream.models.heatmaps`) and ``weight`` ``(128,)`` float32 (0 for points far outside
    the crop).
    """

    def __init__(self, samples: Sequence[Sample], size: int, augment: AugmentConfig) -> None:
        self.samples = list(samples)
        self.size = size
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = key
        sample = self.samples[index]
        rng = np.random.default_rng(seed)
        image = read_rgb(sample.image)
        crop_to_frame = crop_from_landmarks(sample.points[None], self.augment.crop, rng)
        crop = cut_crops(image, crop_to_frame, self.size)[0]
        points = apply_affines(invert_affines(crop_to_frame), sample.points[None])[0]
        weight = sample.weight.copy()
        if rng.random() < self.augment.flip_p:
            crop, points, weight = flip_crop(crop, points, weight)
        crop = photometric(crop, rng, self.augment)
        # A point far outside the crop has no heatmap peak to learn from.
        weight[((points < -0.1) | (points > 1.1)).any(axis=1)] = 0
        return {
            "image": torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))),
            "points": torch.from_numpy(points),
            "weight": torch.from_numpy(weight),
        }


def epoch_plan(kinds: Sequence[str], seed: int, epoch: int) -> np.ndarray:
    """The ``(sample index, augmentation seed)`` pairs of one epoch, in visiting order.

    Each kind is visited ``EPOCH_REPEATS`` times (a fraction: a random subset), the order is
    shuffled, and every pair's seed is unique to ``(seed, epoch, position)``.
    """
    rng = np.random.default_rng([seed, epoch])
    kinds_arr = np.asarray(kinds)
    picks = []
    for kind, repeat in EPOCH_REPEATS.items():
        idx = np.flatnonzero(kinds_arr == kind)
        whole, frac = int(repeat), repeat - int(repeat)
        picks += [idx] * whole
        picks.append(rng.permutation(idx)[: int(round(frac * len(idx)))])
    order = rng.permutation(np.concatenate(picks))
    seeds = np.random.SeedSequence([seed, epoch]).generate_state(len(order), np.uint32)
    return np.stack([order, seeds.astype(np.int64)], axis=1)


class PlanBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of ``(index, seed)`` pairs of an epoch plan, from batch ``start`` on."""

    def __init__(self, plan: np.ndarray, batch_size: int, start: int = 0) -> None:
        self.plan, self.batch_size, self.start = plan, batch_size, start

    def __len__(self) -> int:
        return len(self.plan) // self.batch_size - self.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for b in range(self.start, len(self.plan) // self.batch_size):
            rows = self.plan[b * self.batch_size : (b + 1) * self.batch_size]
            yield [(int(i), int(s)) for i, s in rows]
