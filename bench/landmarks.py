"""Per-face latency of the HRNet-128 variants on this CPU beside MediaPipe Face Mesh.

Measured in one run on the same faces (the first 8 300-W eval faces from ``../shared/data``,
256x256 crops with their human landmarks): MediaPipe Face Mesh runs in tracking mode in its
own virtual environment (``.venv-mp``, numpy<2) through ``bench/mediapipe_facemesh_timing.py``
(its figure includes its own ROI crop and graph overhead); the HRNet variants run with random
weights (latency does not depend on the values) with ``torch.set_num_threads(THREADS)`` and
``torch.inference_mode``:

- ``model``: model + heatmap decoding on ready crops, batch 1 and 8, eager and
  TorchScript-frozen;
- ``engine``: `LandmarkEngine.infer` on a frame holding the 8 faces (crop cutting from the
  previous landmarks + frozen model + decoding back to the frame), batch 1 and 8: the
  per-face cost of tracking mode.
 The two sides alternate
``--rounds`` times so that a busy machine slows both alike; medians are reported, the ratio
to MediaPipe's median per-face latency, and the median of the per-round (paired) ratios.

    .venv/bin/python bench/landmarks.py --threads 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from facestream.models.engine import LandmarkEngine
from facestream.models.heatmaps import TARGET_SIGMA, decode_heatmaps
from facestream.models.hrnet import CONFIGS, create_model

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "faces300w"
MP_PYTHON = ROOT / ".venv-mp" / "bin" / "python"


def face_crops(count: int = 8, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(count, size, size, 3) uint8 RGB face crops and their (count, 68, 2) human landmarks."""
    import csv

    crops, points = [], []
    with open(DATA / "landmarks.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "eval"][:count]
    for row in rows:
        image = cv2.imread(str(DATA / "eval" / row["file"]))[:, :, ::-1]
        scale = size / image.shape[0]
        crops.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
        xy = np.array([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(68)])
        points.append((xy + 0.5) * scale - 0.5)
    return np.stack(crops), np.stack(points).astype(np.float32)


def mediapipe_ms(crops: np.ndarray, repeats: int) -> float:
    """Median per-face milliseconds of MediaPipe Face Mesh in tracking mode."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "crops.npy"
        np.save(path, crops)
        out = subprocess.run(
            [
                str(MP_PYTHON),
                str(ROOT / "bench" / "mediapipe_facemesh_timing.py"),
                str(path),
                "--repeats",
                str(repeats),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["frames_with_face"] < result["frames"]:
        print(f"note: MediaPipe found a face in {result['frames_with_face']}/{result['frames']}")
    return float(np.median(result["ms_per_face"]))


def hrnet_ms(name: str, crops: np.ndarray, batch: int, frozen: bool, repeats: int) -> float:
    """Median per-face milliseconds of one variant: model and heatmap decoding."""
    import warnings

    warnings.filterwarnings("ignore")  # tracer and TorchScript deprecation warnings
    model = create_model(name).eval()
    size = model.config.input_size
    resized = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])
    x_all = torch.from_numpy(resized).permute(0, 3, 1, 2).float().div(255)
    affine = torch.eye(2, 3).expand(batch, 2, 3)
    with torch.inference_mode():
        x = x_all[:batch]
        net = torch.jit.freeze(torch.jit.trace(model, x, check_trace=False)) if frozen else model
        for _ in range(3):
            decode_heatmaps(net(x), affine, TARGET_SIGMA)
        times = []
        for r in range(repeats):
            x = x_all[(np.arange(batch) + r) % len(x_all)]
            t = time.perf_counter()
            decode_heatmaps(net(x), affine, TARGET_SIGMA)
            times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000 / batch


def engine_ms(name: str, crops: np.ndarray, points: np.ndarray, batch: int, repeats: int) -> float:
    """Median per-face milliseconds of `LandmarkEngine.infer` (crop + model + decode)."""
    engine = LandmarkEngine(name, weights=None, device="cpu", num_threads=torch.get_num_threads())
    size = crops.shape[1]
    frame = np.ascontiguousarray(np.concatenate(list(crops), axis=1))  # 8 faces in a row
    faces = points + np.arange(len(crops))[:, None, None] * [size, 0]
    times = []
    for r in range(repeats + 3):
        pick = (np.arange(batch) + r) % len(faces)
        t = time.perf_counter()
        engine.infer(frame, engine.crop_affines(faces[pick]))
        times.append(time.perf_counter() - t)
    return float(np.median(times[3:])) * 1000 / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--variants", nargs="+", default=sorted(CONFIGS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not (DATA / "landmarks.csv").is_file():
        sys.exit(f"needs the 300-W faces in {DATA} (the shared data folder)")
    crops, points = face_crops(8)
    has_mp = MP_PYTHON.exists()
    if not has_mp:
        print(f"MediaPipe venv not found at {MP_PYTHON}: no peer in this run")
    runs: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        if has_mp:
            runs.setdefault("mediapipe facemesh (tracking)", []).append(
                mediapipe_ms(crops, args.repeats)
            )
        for name in args.variants:
            # The big model is slow on a CPU: fewer repeats keep the run short.
            repeats = args.repeats if CONFIGS[name].input_size <= 128 else max(3, args.repeats // 6)
            for batch in (1, 8):
                for frozen in (False, True):
                    key = f"{name} model batch {batch} {'jit-frozen' if frozen else 'eager'}"
                    runs.setdefault(key, []).append(hrnet_ms(name, crops, batch, frozen, repeats))
                key = f"{name} engine batch {batch}"
                runs.setdefault(key, []).append(engine_ms(name, crops, points, batch, repeats))
    peer = np.median(runs["mediapipe facemesh (tracking)"]) if has_mp else None
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.rounds} rounds, "
        f"{len(crops)} faces, median ms per face (min..max over rounds)"
    )
    # Paired ratios: each round's figure over MediaPipe's figure of the same round, so a
    # round slowed by other work on the machine slows both sides of its ratio.
    peer_rounds = np.array(runs.get("mediapipe facemesh (tracking)", []))
    print(f"{'':44s} {'ms/face':>8s} {'min..max':>14s} {'x MediaPipe':>12s} {'paired':>7s}")
    for key, values in runs.items():
        ms = float(np.median(values))
        ratio = f"{ms / peer:12.2f}" if peer else ""
        paired = f"{np.median(np.array(values) / peer_rounds):7.2f}" if peer else ""
        spread = f"{min(values):6.2f}..{max(values):<6.2f}"
        print(f"{key:44s} {ms:8.2f} {spread:>14s} {ratio} {paired}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
