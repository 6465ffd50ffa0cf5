"""Train an HRNet-128 variant on the teacher and human landmark labels.

Resumable and deterministic: checkpoints hold the model (safetensors), and the optimiser,
scheduler, RNG and loop position (``torch.save`` of plain tensors and dicts, read back with
``weights_only=True``). They are written after every epoch, every few minutes and on
Ctrl-C; ``--resume`` continues from the last one and sees the same samples it would have
seen without the interruption. Each epoch ends with an evaluation on the faces300w eval crops
(boxes from their labels), and a CSV log gets one row per epoch. That evaluation only
monitors the run: the exported weights are the last epoch's, never an epoch picked by its
eval figure, so the eval NME stays a test figure.

Example:
    facestream train --variant hrnet128_lite --epochs 12 --seed 0
    facestream train --variant hrnet128_lite --resume   # after a stop
"""

from __future__ import annotations

import csv
import math
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from facestream.models.heatmaps import TARGET_SIGMA, decode_heatmaps, render_heatmaps
from facestream.models.hrnet import HRNet, create_model, load_weights, save_weights
from facestream.models.train.augment import NO_AUGMENT, AugmentConfig
from facestream.models.train.dataset import (
    LandmarkDataset,
    PlanBatchSampler,
    epoch_plan,
    is_held_out,
    sample_from_label,
)
from facestream.models.train.label_store import KINDS, cache_dir, load_labels
from facestream.models.train.loss import adaptive_wing_loss
from facestream.models.train.metrics import nme_summary
from facestream.stream.errors import UserError

LOG_FIELDS = [
    "epoch",
    "step",
    "train_loss",
    "lr",
    "eval_nme",
    "eval_nme_median",
    "eval_failure",
    "seconds",
]


@dataclass
class TrainConfig:
    """Settings of one training run (saved beside its checkpoints)."""

    variant: str = "hrnet128_lite"
    out: Path | None = None
    epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: float = 0.03  # fraction of all steps
    seed: int = 0
    workers: int = 1
    # One thread: on a shared 2-core machine two OpenMP threads wait on each other and ran
    # ten times slower here than one.
    threads: int = 1
    save_every_s: float = 600.0
    max_steps: int | None = None  # stop after this many steps in this call (tests, budgets)
    eval_limit: int | None = None  # evaluate on the first N eval crops only (tests)

    def directory(self) -> Path:
        return self.out or cache_dir() / "train" / self.variant


class Checkpoint:
    """The files of a run: ``last.safetensors`` + ``last_state.pt``, and the log."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.model = directory / "last.safetensors"
        self.state = directory / "last_state.pt"
        self.log = directory / "log.csv"

    def exists(self) -> bool:
        return self.model.is_file() and self.state.is_file()

    def save(self, model: HRNet, state: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _atomic(self.model, lambda p: save_weights(model, p))
        _atomic(self.state, lambda p: torch.save(state, p))


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def lr_lambda(total: int, warmup: float):
    """Linear warm-up then cosine decay to 1% of the peak, as a LambdaLR factor."""
    w = max(1, int(warmup * total))

    def f(step: int) -> float:
        if step < w:
            return (step + 1) / w
        t = min(1.0, (step - w) / max(1, total - w))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))

    return f


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """Run (or continue) training; returns the final loop state.

    Raises:
        UserError: no labels, or ``resume`` without a checkpoint.
    """
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    # OpenCV's thread pool in this process (the evaluation's crops) can stall the data
    # workers forked at the next epoch; one OpenCV thread here as in the workers.
    cv2.setNumThreads(1)
    ckpt = Checkpoint(cfg.directory())
    ckpt.dir.mkdir(parents=True, exist_ok=True)
    labels = cache_dir() / "labels"
    kinds_present = [k for k in KINDS if (labels / f"{k}.npz").is_file()]
    try:
        items = load_labels(kinds=kinds_present or KINDS)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    train_items = [it for it in items if it.split == "train" and not is_held_out(it)]
    eval_items = [it for it in items if it.split == "eval" and it.kind == "faces300w"]
    samples = [sample_from_label(it) for it in train_items]
    if not samples:
        raise UserError("The label cache holds no training faces: run `make labels`.")

    # Channels-last runs the depthwise convolutions of the lite model faster on CPU.
    model = create_model(cfg.variant).to(memory_format=torch.channels_last)
    size, grid = model.config.input_size, model.config.heatmap_size
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    kinds = [s.kind for s in samples]
    steps_per_epoch = len(epoch_plan(kinds, cfg.seed, 0)) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(total, cfg.warmup))
    loop = {"epoch": 0, "batch": 0, "step": 0, "eval_nme": float("nan")}
    if resume:
        if not ckpt.exists():
            raise UserError(f"No checkpoint to resume from in {ckpt.dir}.")
        load_weights(model, ckpt.model)
        state = torch.load(ckpt.state, weights_only=True)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        loop = state["loop"]

    dataset = LandmarkDataset(samples, size, AugmentConfig())
    eval_set = LandmarkDataset(
        [sample_from_label(it) for it in eval_items][: cfg.eval_limit],
        size,
        NO_AUGMENT,
    )

    def state_dict() -> dict:
        return {
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "loop": dict(loop),
            "config": {k: str(v) for k, v in asdict(cfg).items()},
        }

    interrupted = False

    def on_sigterm(signum, frame):  # a `kill` stops like Ctrl-C: checkpoint, then exit
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, on_sigterm)
    steps_done = 0
    last_save = time.monotonic()
    # One loader for the whole run: its worker is forked once, before any evaluation, and
    # each epoch only swaps the sampler's plan.
    sampler = PlanBatchSampler(np.zeros((0, 2), np.int64), cfg.batch_size)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=cfg.workers,
        worker_init_fn=_worker_init,
        persistent_workers=cfg.workers > 0,
        prefetch_factor=4 if cfg.workers else None,
    )
    try:
        while loop["epoch"] < cfg.epochs:
            sampler.plan = epoch_plan(kinds, cfg.seed, loop["epoch"])
            sampler.start = loop["batch"]
            model.train()
            t0 = time.monotonic()
            losses = []
            bar = tqdm(
                loader,
                total=len(sampler),
                disable=not progress,
                desc=f"epoch {loop['epoch'] + 1}/{cfg.epochs}",
                dynamic_ncols=True,
                mininterval=5 if progress else 0.1,
            )
            for batch in bar:
                x = batch["image"].float().div_(255).contiguous(memory_format=torch.channels_last)
                target = render_heatmaps(batch["points"], (grid, grid), TARGET_SIGMA)
                loss = adaptive_wing_loss(model(x), target, batch["weight"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loop["batch"] += 1
                loop["step"] += 1
                steps_done += 1
                losses.append(float(loss.detach()))
                bar.set_postfix(
                    loss=f"{np.mean(losses[-50:]):.4f}", lr=f"{sched.get_last_lr()[0]:.2e}"
                )
                if time.monotonic() - last_save > cfg.save_every_s:
                    ckpt.save(model, state_dict())
                    last_save = time.monotonic()
                if cfg.max_steps is not None and steps_done >= cfg.max_steps:
                    break
            bar.close()
            if (
                cfg.max_steps is not None
                and steps_done >= cfg.max_steps
                and loop["batch"] < steps_per_epoch
            ):
                break
            metrics = evaluate_crops(model, eval_set) if len(eval_set) else {}
            nme = metrics.get("nme", float("nan"))
            loop["eval_nme"] = nme
            _log_row(
                ckpt.log,
                {
                    "epoch": loop["epoch"] + 1,
                    "step": loop["step"],
                    "train_loss": f"{np.mean(losses) if losses else float('nan'):.5f}",
                    "lr": f"{sched.get_last_lr()[0]:.3e}",
                    "eval_nme": f"{nme:.3f}",
                    "eval_nme_median": f"{metrics.get('nme_median', float('nan')):.3f}",
                    "eval_failure": f"{metrics.get('failure_rate', float('nan')):.3f}",
                    "seconds": f"{time.monotonic() - t0:.1f}",
                },
            )
            loop["epoch"] += 1
            loop["batch"] = 0
            ckpt.save(model, state_dict())
            last_save = time.monotonic()
            if progress:
                tqdm.write(f"epoch {loop['epoch']}: loss {np.mean(losses):.4f} eval NME {nme:.3f}%")
            if cfg.max_steps is not None and steps_done >= cfg.max_steps:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.signal(signal.SIGTERM, old_term)
    ckpt.save(model, state_dict())
    return {**loop, "interrupted": interrupted, "model": model}


def _worker_init(worker_id: int) -> None:
    # The worker shares two cores with the training step: one thread each.
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _log_row(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


@torch.no_grad()
def evaluate_crops(model: torch.nn.Module, dataset: LandmarkDataset) -> dict:
    """NME of the model on un-augmented crops cut from the labelled landmarks."""

    model.eval()
    preds, truths = [], []
    for start in range(0, len(dataset), 32):
        batch = [dataset[(i, 0)] for i in range(start, min(start + 32, len(dataset)))]
        x = torch.stack([b["image"] for b in batch]).float().div_(255)
        x = x.contiguous(memory_format=torch.channels_last)
        identity = torch.eye(2, 3).expand(len(batch), 2, 3)  # normalised crop coordinates
        preds.append(decode_heatmaps(model(x), identity, TARGET_SIGMA)[0].numpy())
        truths.append(torch.stack([b["points"] for b in batch]).numpy())
    model.train()
    pred, truth = np.concatenate(preds), np.concatenate(truths)
    return nme_summary(pred[:, :68], truth[:, :68])


def export_last(variant: str, directory: Path, out: Path) -> Path:
    """Copy the last checkpoint's weights of a run to ``out`` (strictly checked, with the
    variant in the file's metadata), e.g. ``models/weights/hrnet128_lite.safetensors``.

    Raises:
        UserError: the run has no checkpoint yet.
    """
    last = Checkpoint(directory).model
    if not last.is_file():
        raise UserError(f"No checkpoint in {directory}: train first.")
    model = create_model(variant, last)
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic(out, lambda p: save_weights(model, p))
    return out
