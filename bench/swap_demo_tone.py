"""Face tone on the demo clip: mean Lab of the face skin, by height band, and of the neck,
in the target and in the swap, without and with the lighting match (issue #8), same run.

Runs what `facestream demo` runs (the carphone clip, the astronaut photo, `facestream swap`
with its defaults: shipped weights, fixed-lag smoothing) twice, recording every composited
face just before and after `composite_face`:

- face skin: iBUG jaw 0-16 closed over the brows, eyes and lips cut out, eroded 2 px; cut
  into five bands of equal height from the brows (1) to the chin (5);
- neck: below the jaw points 5-11, from 4 % to 16 % of the face height under them (the
  swap never changes it: it is the same in all three columns).

    .venv/bin/python bench/swap_demo_tone.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from swap_before_after import switch  # noqa: E402

import facestream.filters.swap as swap  # noqa: E402
from facestream.filters.blend import polygon_mask  # noqa: E402
from facestream.models.landmarks import LEFT_EYE, OUTER_MOUTH, RIGHT_EYE  # noqa: E402
from facestream.stream import cli_swap  # noqa: E402
from facestream.stream.cli_demo import demo_clip, demo_source  # noqa: E402

BANDS = 5


def lab(image: np.ndarray) -> np.ndarray:
    """float32 Lab with L in 0-100 and a*, b* around 0."""
    out = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    out[..., 0] *= 100 / 255
    out[..., 1:] -= 128
    return out


def skin_bands(p: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    """The face skin mask cut into `BANDS` bands from the brows down to the chin."""
    mask = polygon_mask(np.concatenate([p[0:17], p[26:16:-1]]), shape)
    for cut in (OUTER_MOUTH, LEFT_EYE, RIGHT_EYE):
        mask[polygon_mask(p[cut], shape) > 0] = 0
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
    rows = np.nonzero(mask.any(axis=1))[0]
    edges = np.linspace(rows.min(), rows.max() + 1, BANDS + 1).astype(int)
    y = np.arange(shape[0])[:, None]
    return [mask & (y >= a) & (y < b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def neck(p: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    jaw, height = p[5:12], float(np.ptp(p[:, 1]))
    polygon = np.concatenate([jaw + (0, 0.04 * height), (jaw + (0, 0.16 * height))[::-1]])
    return polygon_mask(polygon, shape) > 0


def run_demo(folder: Path) -> list[dict[str, Any]]:
    """Every composited face of one demo run: the patch before and after, the target's
    points in it."""
    faces: list[dict[str, Any]] = []
    real = swap.composite_face

    def recording(image: np.ndarray, target: np.ndarray, *args: Any, **kw: Any) -> Any:
        before = image.copy()
        result = real(image, target, *args, **kw)
        if result is not None:
            faces.append({"before": before, "after": image.copy(), "points": target})
        return result

    parser = argparse.ArgumentParser()
    cli_swap.add_arguments(parser)
    args = parser.parse_args(
        [str(demo_clip()), str(folder / "demo.mp4"), "--source", str(demo_source(folder))]
        + ["--overwrite"]  # the second run writes the same file
    )
    args.quiet = True
    swap.composite_face = recording
    try:
        cli_swap.swap_file(args)
    finally:
        swap.composite_face = real
    return faces


REGIONS = ["skin"] + [f"band {i + 1}" for i in range(BANDS)] + ["neck"]


def region_means(faces: list[dict[str, Any]], key: str) -> dict[str, np.ndarray]:
    """Mean over the faces of each region's mean Lab in `face[key]`."""
    values: dict[str, list[np.ndarray]] = {r: [] for r in REGIONS}
    for face in faces:
        image, p = face[key], face["points"]
        bands = skin_bands(p, image.shape[:2])
        masks = [np.logical_or.reduce(bands), *bands, neck(p, image.shape[:2])]
        colours = lab(image)
        for region, mask in zip(REGIONS, masks, strict=True):
            if mask.any():
                values[region].append(colours[mask].mean(axis=0))
    return {r: np.mean(v, axis=0) for r, v in values.items()}


def table(runs: dict[str, list[dict[str, Any]]]) -> None:
    first = next(iter(runs.values()))
    columns = {"target": region_means(first, "before")}
    columns |= {name: region_means(faces, "after") for name, faces in runs.items()}
    print(f"{len(first)} faces; mean L / a* / b* over the faces")
    print(f"{'region':10s}" + "".join(f"{c:>22s}" for c in columns))
    for region in REGIONS:
        cells = [columns[c][region] for c in columns]
        print(f"{region:10s}" + "".join(f"{x[0]:10.1f} {x[1]:5.1f} {x[2]:5.1f}" for x in cells))
    bands = [f"band {i + 1}" for i in range(BANDS)]
    target = np.array([columns["target"][b][0] for b in bands])
    for name in runs:
        error = np.array([columns[name][b][0] for b in bands]) - target
        print(
            f"{name}: L error by band {' '.join(f'{e:+.1f}' for e in error)}, "
            f"mean |error| {np.abs(error).mean():.1f}"
        )


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, on in (("without lighting", False), ("with lighting", True)):
            switch("lighting", on)
            runs[name] = run_demo(Path(tmp))
    switch("lighting", True)
    table(runs)


if __name__ == "__main__":
    main()
