"""Where `composite_face`'s time goes, call by call, for one or two revisions of `filters/`.

A thread-CPU timer is put around each function `composite_face` calls (the names its
module imports, and the per-track models' methods), and the speed clip is composited
`--reps` times in one thread, one new track a turn (as `swap_speed_ab.py` does). Prints
ms per face of each call, largest first, for each revision side by side; "rest" is
`composite_face`'s own glue. Indented rows are parts of the row above (not in "rest")::

    .venv/bin/python bench/swap_steps.py work [OLD_REV] [--reps 6]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_cache import load_clip  # noqa: E402
from swap_speed import CLIP  # noqa: E402
from swap_speed_ab import filters_of, load  # noqa: E402

# The functions `composite_face` calls by the names its module holds them under.
CALLS = (
    "locate_irises draw_points lift_brows smooth_closed face_polygon brow_cover points_box "
    "gaze_warp build_warp_map remap face_mask feather _kept_target_alpha clear_raised "
    "stats_matrix feature_polygons match_lighting skin_weight alpha_blend source_eyes "
    "closing_lids texture_with_skin face_size"
).split()
# Per-track models' methods (class name in `swap`'s namespace or its `TrackState`).
METHODS = (
    ("OcclusionModel", "occlusion"),
    ("GlassesModel", "glasses"),
    ("SharpnessMatch", "apply"),
    ("Blinks", "update"),
)
# Parts of a call above, timed inside it (module, name): not added to the total of calls.
PARTS = (("gaze", "build_warp_map"), ("gaze", "follow_iris"))


def timed(times: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` adding its thread CPU seconds to `times[name]`."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            times[name] += time.thread_time() - start

    return wrapper


def instrument(swap: ModuleType, times: dict[str, float]) -> None:
    """Wrap `swap`'s calls (and the parts) with timers."""
    for name in CALLS:
        if hasattr(swap, name):
            setattr(swap, name, timed(times, name, getattr(swap, name)))
    for cls_name, method in METHODS:
        cls = getattr(swap, cls_name)
        setattr(cls, method, timed(times, f"{cls_name}.{method}", getattr(cls, method)))
    for module_name, name in PARTS:
        module = sys.modules[f"facestream.filters.{module_name}"]
        setattr(module, name, timed(times, f"  {name} (in {module_name})", getattr(module, name)))


def profile(rev: str, tmp: Path, frames: list, points: list, reps: int) -> dict[str, float]:
    """ms per face of each call and of "rest" and "total" for revision `rev`."""
    swap, source = load(filters_of(rev, tmp))
    times: dict[str, float] = defaultdict(float)
    instrument(swap, times)
    total = 0.0
    for turn in range(reps + 1):
        state, options = swap.TrackState(), swap.SwapOptions()
        if turn == 1:  # the first turn warms up
            times.clear()
            total = 0.0
        for frame, face in zip(frames, points, strict=True):
            image = frame.copy()
            start = time.thread_time()
            swap.composite_face(image, face, source, options, state)
            total += time.thread_time() - start
    faces = reps * len(frames)
    out = {name: seconds * 1e3 / faces for name, seconds in times.items()}
    out["rest"] = (total * 1e3 / faces) - sum(v for k, v in out.items() if not k.startswith(" "))
    out["total"] = total * 1e3 / faces
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("revs", nargs="*", default=["work"], help="work, a revision or a folder")
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    frames, faces = load_clip(CLIP, args.frames)
    kept = [i for i, f in enumerate(faces) if f]
    frames, points = [frames[i] for i in kept], [faces[i][0].points for i in kept]
    with tempfile.TemporaryDirectory() as tmp:
        results = {rev: profile(rev, Path(tmp), frames, points, args.reps) for rev in args.revs}
    first = results[args.revs[0]]
    names = sorted(first, key=lambda k: (k == "total", k == "rest", -first[k]))
    print(f"{CLIP.name}: composite_face, thread CPU ms per face, {args.reps} turns")
    print(f"{'call':34s}" + "".join(f"{rev[-12:]:>14s}" for rev in args.revs))
    for name in names:
        print(f"{name:34s}" + "".join(f"{r.get(name, 0.0):14.3f}" for r in results.values()))


if __name__ == "__main__":
    main()
