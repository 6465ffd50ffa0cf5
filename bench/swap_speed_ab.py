"""Compositing speed of two revisions of `filters/`, alternating in one process.

Back-to-back runs on this shared 2-core machine drift by more than a speed pass saves, so
both revisions' `facestream.filters` are loaded in the same process (each from a
`git archive` of the revision, or the working tree for `work`) and `composite_face` (one
face, default options, one core) runs over the speed clip's frames in turns: median and
mean CPU ms per face of each, and their differences. `--compare` instead composites every
frame once with each and prints how far the outputs differ (max and mean absolute
difference)::

    .venv/bin/python bench/swap_speed_ab.py OLD_REV [NEW_REV|work] [--reps 8]
    .venv/bin/python bench/swap_speed_ab.py OLD_REV work --compare [--clip PATH]
    .venv/bin/python bench/swap_speed_ab.py /tmp/old/filters HEAD  # a folder as a peer
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_cache import load_clip, mediapipe_landmarks  # noqa: E402
from swap_speed import CLIP, SOURCE  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def filters_of(rev: str, into: Path) -> Path:
    """The `filters/` folder of `rev` extracted under `into` (`work`: the working tree's;
    a folder: that folder, e.g. a copy with some commits reverted)."""
    if rev == "work":
        return REPO / "filters"
    if Path(rev).is_dir():
        return Path(rev)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "filters"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into / rev, filter="data")
    return into / rev / "filters"


def load(path: Path) -> tuple[ModuleType, object]:
    """`facestream.filters.swap` imported from `path`, and the source enrolled with it."""
    for name in [m for m in sys.modules if m.startswith("facestream.filters")]:
        del sys.modules[name]
    import facestream.filters as package

    package.__path__[:] = [str(path)]
    swap = importlib.import_module("facestream.filters.swap")
    enroll = importlib.import_module("facestream.filters.enroll")
    return swap, enroll.enroll_source(SOURCE, mediapipe_landmarks)


def run(
    swap: ModuleType, source: object, frames: list, points: list, keep: bool = False
) -> tuple[list[float], list[np.ndarray]]:
    """CPU ms of each face over the clip (one new track), and the frames when `keep`."""
    state, options = swap.TrackState(), swap.SwapOptions()
    times, outputs = [], []
    for frame, face in zip(frames, points, strict=True):
        image = frame.copy()
        start = time.thread_time()
        swap.composite_face(image, face, source, options, state)
        times.append((time.thread_time() - start) * 1e3)
        if keep:
            outputs.append(image)
    return times, outputs


Peers = dict[str, tuple[ModuleType, object]]  # revision: its swap module, its enrolled source


def compare(peers: Peers, frames: list, points: list, clip: Path) -> None:
    """Print how far the two revisions' outputs differ over the clip."""
    old, new = (run(swap, source, frames, points, True)[1] for swap, source in peers.values())
    diff = np.stack([cv2.absdiff(a, b) for a, b in zip(old, new, strict=True)])
    print(
        f"{clip.name}, {len(frames)} frames: max abs diff {diff.max()}, mean"
        f" {diff.mean():.6f}, pixels differing {int((diff.max(axis=-1) > 0).sum())}"
    )


def time_peers(peers: Peers, frames: list, points: list, reps: int, clip: Path) -> None:
    """Print each revision's median and mean CPU ms per face, the clip run `reps` times in
    turns."""
    times: dict[str, list[float]] = {rev: [] for rev in peers}
    for _ in range(reps):
        for rev, (swap, source) in peers.items():
            times[rev] += run(swap, source, frames, points)[0][2:]  # the first two warm up
    # The mean too: steps that run on every other frame of a track (the brow search, the
    # colour statistics) make the per-face times two-humped, and a median then falls on
    # whichever hump is larger.
    medians = {rev: statistics.median(t) for rev, t in times.items()}
    means = {rev: statistics.fmean(t) for rev, t in times.items()}
    print(f"{clip.name}: composite_face, default options, CPU ms per face (median, mean)")
    for rev, median in medians.items():
        print(f"{rev:12s} {median:6.3f} {means[rev]:6.3f}  ({len(times[rev])} faces)")
    if len(medians) == 2:  # the same revision twice is one peer
        (old, new), (old_mean, new_mean) = medians.values(), means.values()
        print(f"new - old    {new - old:+6.3f} {new_mean - old_mean:+6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old")
    parser.add_argument("new", nargs="?", default="work")
    parser.add_argument("--reps", type=int, default=8, help="turns of the clip each")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--compare", action="store_true", help="output differences only")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    frames, faces = load_clip(args.clip, args.frames)
    kept = [i for i, f in enumerate(faces) if f]
    frames, points = [frames[i] for i in kept], [faces[i][0].points for i in kept]
    # The extracted files stay until the end: a module may import another lazily.
    with tempfile.TemporaryDirectory() as tmp:
        peers = {rev: load(filters_of(rev, Path(tmp))) for rev in (args.old, args.new)}
        if args.compare:
            compare(peers, frames, points, args.clip)
        else:
            time_peers(peers, frames, points, args.reps, args.clip)


if __name__ == "__main__":
    main()
