"""How much of the target's lips a smiling source's teeth cover (issue #8).

Enrollment paints the source's teeth, the gaps between them and the dark mouth corners
over in lip colour (`filters/enroll.py`, `lip_texture`). This measures what they covered
before: the painted mask is warped onto each target face through the same compositor
(mask, feather, the kept target mouth) in place of the texture, and averaged over the
target's lip area (the drawn outer-lip polygon less the target's inner-lip polygon).
Without the painting, that share of the lips showed the source's teeth and corners.

Source: the demo's astronaut (smiling, teeth showing); landmarks: the engine with the
shipped weights; first 150 frames of each clip::

    .venv/bin/python bench/swap_teeth_share.py liveportrait/d3.mp4 \\
        sadtalker/WDA_KatieHill_000.mp4 liveportrait/d0.mp4
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from swap_before_after import clip_path, tracked  # noqa: E402

import facestream.filters.enroll as enroll  # noqa: E402
from facestream.filters.blend import polygon_mask  # noqa: E402
from facestream.filters.swap import SwapOptions, TrackState, composite_face  # noqa: E402
from facestream.models.landmarks import INNER_MOUTH, OUTER_MOUTH  # noqa: E402
from facestream.stream.cli_demo import demo_source  # noqa: E402
from facestream.stream.live_chain import EngineLandmarks  # noqa: E402

FRAMES = 150


def painted_source(landmarks: EngineLandmarks, folder: Path) -> enroll.SourceFace:
    """The demo source with its texture replaced by the painted mask (white = painted)."""
    masks: list[np.ndarray] = []
    real = enroll.lip_texture

    def keeping_mask(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        painted, mask = real(image, points)
        masks.append(mask)
        return painted, mask

    enroll.lip_texture = keeping_mask
    try:
        source = enroll.enroll_source(demo_source(folder), landmarks)
    finally:
        enroll.lip_texture = real
    lips = polygon_mask(source.points[OUTER_MOUTH], masks[-1].shape) > 0
    print(f"source: {masks[-1].sum()} px painted, {lips.sum()} px inside its outer lips")
    levels = [np.repeat(masks[-1][..., None].astype(np.uint8) * 255, 3, axis=2)]
    while len(levels) < len(source.pyramid):
        levels.append(cv2.pyrDown(levels[-1]))
    return dataclasses.replace(source, image=levels[0], pyramid=tuple(levels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clips", nargs="+", help="clips under ../shared/data/videos")
    args = parser.parse_args()
    landmarks = EngineLandmarks(weights="default")
    with tempfile.TemporaryDirectory() as tmp:
        source = painted_source(landmarks, Path(tmp))
    # The mask's values as they are: no colour transfer or blur on them.
    options = SwapOptions(colour="none", match_sharpness=False)
    for clip in args.clips:
        shares: dict[str, list[float]] = {"all": [], "closed-mouth": []}
        state = TrackState()
        for _, image, points in tracked(clip_path(clip), landmarks, 0, FRAMES - 1):
            out = np.zeros_like(image)
            result = composite_face(out, points, source, options, state)
            if result is None:
                continue
            shape = out.shape[:2]
            lips = (polygon_mask(result.points[OUTER_MOUTH], shape) > 0) & ~(
                polygon_mask(points[INNER_MOUTH], shape) > 0
            )
            share = float(out[..., 0][lips].mean() / 255)
            shares["all"].append(share)
            if enroll.mouth_openness(points) < enroll.CLOSED_MOUTH:
                shares["closed-mouth"].append(share)
        print(
            f"{clip}: "
            + "; ".join(
                f"{kind} frames ({len(v)}) {100 * np.mean(v):.0f} % of the lip area"
                for kind, v in shares.items()
                if v
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
