"""The swapped face's skin against the target's own around it: before and after, one run.

For each source x clip pair (`PAIRS`: skin tones from very pale to dark, a black and white
photo, an elderly face with warm creases), `facestream swap`'s compositor runs on the
same landmarks (the product's engine tracking the clip, fixed-lag smoothed) twice: once
with the colour and blend modules of an older commit (`--before REV`, loaded from
`git show REV:filters/colour.py` and `blend.py` in place of the current ones) and once
with the current code. On every `MEASURE_EVERY`-th frame (after the colour average's
first frames), in the face's box:

- gap: ΔE (CIE76, L 0-100) between the median Lab of the output's skin just inside the
  mask (alpha >= 0.95, within `BAND` face sizes of the mask's border) and of the target's
  own skin just outside it (within `BAND`; pixels within `SKIN_DE` of the target's face
  skin only, so hair and background do not count);
- halo: the 95th percentile of the output's L in the band along the mask's inner border
  (from alpha > 0 to `BAND` inside the 0.5 level) over the 95th percentile of the
  target's skin just outside: bright patches paler than any of the skin they are blended
  into;
- pale: the 95th percentile of the ΔE from the target's skin just outside (its median) of
  the output's pixels in that band at least as light as it: pale patches of another
  colour (a bluish white where the target's skin is pink);
- chroma: 90th percentile of the output's chroma distance (a*, b*) from its own median
  over the face (alpha >= 0.95), next to the target's over the same pixels: a source's
  creases or shadows coming out far more saturated than any of the target's skin;
- seam: `swap_quality.seam_ratio` (gradient across the mask's border, output over input).

Gap, halo and chroma come with the target's own figures over the same pixels (its face
against its skin around: a shaded neck or a darker hairline are no defect of the swap).

Medians over the measured frames per pair::

    nice -n 10 .venv/bin/python bench/swap_skin_gap.py [--frames 48] [--before REV]
    nice -n 10 .venv/bin/python bench/swap_skin_gap.py --blend laplacian  # multi-band seam
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_cache import read_frames  # noqa: E402
from swap_quality import seam_ratio, smoothed  # noqa: E402

from facestream.filters import swap  # noqa: E402
from facestream.filters.enroll import SourceFace, enroll_source  # noqa: E402
from facestream.filters.shape import face_size  # noqa: E402
from facestream.filters.swap import SwapOptions, TrackState, composite_face  # noqa: E402
from facestream.models.engine import LandmarkEngine  # noqa: E402
from facestream.stream.live_chain import EngineLandmarks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"
PAIRS = [
    ("stills/face_recognition/obama.jpg", "videos/liveportrait/d14.mp4"),
    ("stills/facedetect_deb/grace_hopper_512x512.jpg", "videos/spectre/M030_level_3_angry_016.mp4"),
    ("stills/deepface/img6.jpg", "videos/liveportrait/d0.mp4"),
    ("stills/deepface/img30.jpg", "videos/sadtalker/WDA_KatieHill_000.mp4"),
    ("stills/deepface/img35.jpg", "videos/retalking/2.mp4"),
    ("stills/codeformer/Hepburn01.jpg", "videos/liveportrait/s32.mp4"),
    ("stills/deepface/img3.jpg", "videos/spectre/M030_level_3_angry_016.mp4"),
    ("stills/face_recognition/biden2.jpg", "videos/liveportrait/d14.mp4"),
    ("stills/deepface/img7.jpg", "videos/liveportrait/d3.mp4"),
    ("stills/face_recognition/obama.jpg", "videos/liveportrait/d0.mp4"),
]
MODULES = ("colour", "blend")  # what `--before` replaces
BEFORE = "ff61709~1"  # the last commit before the colour fix of docs/SWAP.md, *Far skin tones*
MEASURE_EVERY = 4
WARM_UP = 4  # frames before the first measure (the colour average settles)
BAND = 0.05  # face sizes
SKIN_DE = 12.0


def lab(image: np.ndarray) -> np.ndarray:
    """float32 CIE Lab, L in 0-100, a and b centred on 0."""
    out = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    out[..., 0] *= 100.0 / 255.0
    out[..., 1:] -= 128.0
    return out


def measures(before: np.ndarray, after: np.ndarray, alpha: np.ndarray, points: np.ndarray):
    """(gap, halo, pale, chroma, the target's chroma, seam, the target's own gap and halo)
    over one face box (see the docstring); `points`: the target's landmarks in the box."""
    size = face_size(points)
    band = BAND * size
    inside = (alpha >= 0.5).astype(np.uint8)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
    t, o = lab(before), lab(after)
    core = alpha >= 0.95
    inner = core & (d_in <= band + 0.03 * size)
    # The target's face skin (under the mask, where it is the target's face) gives the
    # reference that tells its skin outside from hair and background.
    skin = np.median(t[core], axis=0)
    near = np.linalg.norm(t - skin, axis=-1) < SKIN_DE
    outer = (inside == 0) & (d_out <= band) & near
    if inner.sum() < 20 or outer.sum() < 20:
        return None
    gap = float(np.linalg.norm(np.median(o[inner], 0) - np.median(t[outer], 0)))
    border = (alpha > 0.0) & (d_in <= band)
    halo = float(np.percentile(o[border, 0], 95) - np.percentile(t[outer, 0], 95))
    around = np.median(t[outer], 0)
    pale = border & (o[..., 0] >= around[0])
    pale_de = np.percentile(np.linalg.norm(o[pale] - around, axis=1), 95) if pale.any() else 0.0

    def spread(x: np.ndarray) -> float:
        ab = x[core][:, 1:]
        return float(np.percentile(np.linalg.norm(ab - np.median(ab, 0), axis=1), 90))

    seam = seam_ratio(before, after, alpha, size)
    # The target's own figures over the same bands: its face against its skin around.
    own_gap = float(np.linalg.norm(np.median(t[inner], 0) - np.median(t[outer], 0)))
    own_halo = float(np.percentile(t[border, 0], 95) - np.percentile(t[outer, 0], 95))
    return gap, halo, float(pale_de), spread(o), spread(t), seam, own_gap, own_halo


def load_module(rev: str, name: str, tmp: Path) -> ModuleType:
    """`filters/NAME.py` as it was at `rev`, loaded under a private name."""
    text = subprocess.run(
        ["git", "show", f"{rev}:filters/{name}.py"], cwd=REPO, capture_output=True, text=True
    )
    if text.returncode != 0:
        raise SystemExit(f"git show {rev}:filters/{name}.py failed: {text.stderr.strip()}")
    path = tmp / f"{name}_{rev}.py"
    path.write_text(text.stdout)
    spec = importlib.util.spec_from_file_location(f"_before_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def swapped_in(modules: list[ModuleType]) -> Iterator[None]:
    """`filters/swap.py`'s names from `modules` replaced by theirs for the block."""
    saved = {}
    for module in modules:
        for name in dir(module):
            if not name.startswith("__") and hasattr(swap, name):
                saved[name] = getattr(swap, name)
                setattr(swap, name, getattr(module, name))
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(swap, name, value)


def run(
    frames: list[np.ndarray], points: list, source: SourceFace, options: SwapOptions
) -> list[tuple]:
    """Composite every frame with a fresh track; the measures of every measured frame."""
    state, out = TrackState(), []
    for i, (image, target) in enumerate(zip(frames, points, strict=True)):
        if target is None:
            continue
        result = image.copy()
        res = composite_face(result, target, source, options, state)
        if res is None or i < WARM_UP or i % MEASURE_EVERY:
            continue
        x0, y0, x1, y1 = res.box
        m = measures(image[y0:y1, x0:x1], result[y0:y1, x0:x1], res.alpha, target - (x0, y0))
        if m is not None:
            out.append(m)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--before", default=BEFORE, help="commit whose colour/blend is 'before'")
    parser.add_argument("--blend", choices=["feather", "laplacian"], default="feather")
    args = parser.parse_args()
    options = SwapOptions(blend=args.blend)
    engine = LandmarkEngine("hrnet128_lite", num_threads=1)
    enroll = EngineLandmarks(engine)
    sources: dict[str, SourceFace] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = [load_module(args.before, name, Path(tmp)) for name in MODULES]
        for src, clip in PAIRS:
            if src not in sources:
                sources[src] = enroll_source(DATA / src, enroll)
            frames = read_frames(DATA / clip, args.frames)
            engine.reset()
            faces = [engine.track(frame) for frame in frames]
            with av.open(str(DATA / clip)) as c:
                fps = float(c.streams.video[0].average_rate or 25)
            points = smoothed(faces, fps, "fixed-lag")
            with swapped_in(old):
                before = run(frames, points, sources[src], options)
            after = run(frames, points, sources[src], options)
            rows.append((Path(src).stem, Path(clip).stem, before, after))
            print(f"{clip} <- {src}: {len(after)} frames measured", flush=True)
    report(rows, args.before, args.blend)


def report(rows: list, rev: str, blend: str) -> None:
    print(f"\nbefore = colour/blend at {rev}, after = working tree ({blend} seam);")
    print("medians over frames; 'target': the target's own figure over the same pixels")
    columns = (("gap ΔE", 0, 6), ("halo L", 1, 7), ("pale ΔE", 2, None), ("chroma", 3, 4))
    head = f"{'source':20s} {'clip':22s}"
    for name, _, own in columns:
        head += f" {name + ' before':>14s} {'after':>6s}" + (f" {'target':>6s}" if own else "")
    print(head + f" {'seam before':>11s} {'after':>6s}")
    medians = [(np.median(b, axis=0), np.median(a, axis=0)) for *_, b, a in rows]
    names = [(src, clip) for src, clip, *_ in rows] + [("mean over pairs", "")]
    medians.append(tuple(np.mean([m[k] for m in medians], axis=0) for k in (0, 1)))
    for (src, clip), (b, a) in zip(names, medians, strict=True):
        line = f"{src[:20]:20s} {clip[:22]:22s}"
        for _, k, own in columns:
            line += f" {b[k]:14.2f} {a[k]:6.2f}" + (f" {a[own]:6.2f}" if own else "")
        print(line + f" {b[5]:11.3f} {a[5]:6.3f}")


if __name__ == "__main__":
    main()
