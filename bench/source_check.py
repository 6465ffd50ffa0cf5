"""What `filters/source_check.py` sees over the source faces of ../shared/data/stills.

For every still with one face (`enroll.single_face`, the shipped landmark model): the share
of its inner skin covered by something flat that is not skin (`covered_share`), how clearly
it shows glasses (`glasses_contrast`), and what enrollment now decides (`enroll_photo`:
refused and why, or used, with its warnings). The stills that enrolled before these checks
(those `enroll_photo` accepts, or refuses only as covered) are the set the thresholds were
set on. Printed: the flagged ones and those nearest the thresholds, each measure's range
over the set, and the checks' median cost against the whole `enroll_photo` of the same
photos (the peer, in the same run). With ``--sheet FILE``: a contact sheet of the flagged
stills and the three nearest each threshold, their figures written on them.

Run::

    .venv/bin/python bench/source_check.py --sheet /tmp/source_check.png
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from facestream.filters import enroll
from facestream.filters.source_check import covered_share, glasses_contrast
from facestream.stream.live_chain import EngineLandmarks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from source_detail import face_cell  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
NEAREST = 3  # unflagged stills shown nearest each threshold


def stills() -> list[Path]:
    """Every photo under ../shared/data/stills, sorted."""
    folder = DATA / "stills"
    return sorted(p for p in folder.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


WARNINGS = {
    "is soft": "soft",
    "of the forehead": "fringe",
    "covers about": "covered",
    "wears glasses": "glasses",
}


def kind(sentence: str) -> str:
    """A one-word name for an enrollment warning's sentence."""
    return next((name for key, name in WARNINGS.items() if key in sentence), sentence[:30])


def timed(function, *args) -> tuple[object, float]:
    """`function(*args)` and its wall time in ms."""
    start = time.perf_counter()
    value = function(*args)
    return value, 1000.0 * (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheet", type=Path, help="PNG of the flagged stills")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the warnings are read from the enrolled faces
    landmarks = EngineLandmarks(weights="default")
    rows = []
    for path in stills():
        image = enroll.read_rgb(path)
        try:
            points = enroll.single_face(path, image, landmarks)
        except enroll.SourceFaceError:
            continue
        covered, cover_ms = timed(covered_share, image, points)
        glasses, glasses_ms = timed(glasses_contrast, image, points)
        enroll_ms = float("nan")
        try:
            source, enroll_ms = timed(enroll.enroll_photo, path, image, landmarks)
            said = [kind(w) for w in enroll.source_warnings(source)]
            decision, before = "used" + (f" ({'; '.join(said)})" if said else ""), True
        except enroll.SourceFaceError as err:
            decision, before = f"refused: {kind(str(err))}", "covers" in str(err)
        name = str(path.relative_to(DATA / "stills"))
        checks_ms = cover_ms + glasses_ms
        rows.append((name, image, points, covered, glasses, decision, before, checks_ms, enroll_ms))
    kept = [r for r in rows if r[6]]
    print(f"{len(rows)} stills with one face; {len(kept)} enrolled before the checks\n")
    flagged = []
    for label, index, threshold in (
        ("covered share", 3, enroll.COVER_WARN),
        ("glasses contrast", 4, enroll.GLASSES_BARS),
    ):
        ordered = sorted(kept, key=lambda r: -r[index])
        over = [r for r in ordered if r[index] > threshold]
        near = [r for r in ordered if r[index] <= threshold][:NEAREST]
        print(f"{label}: flagged over {threshold}:")
        for r in over + near:
            mark = "FLAG" if r in over else "    "
            print(f"  {mark} {r[index]:7.3f}  {r[0]:48s} {r[5]}")
        clean = [r[index] for r in ordered if r[index] <= threshold]
        print(f"  unflagged: {len(clean)}, range {min(clean):.3f}-{max(clean):.3f}\n")
        flagged += [(r, f"{label.split()[0]} {r[index]:.3f}") for r in over + near]
    checks = [r[7] for r in kept]
    whole = [r[8] for r in kept if np.isfinite(r[8])]
    print(
        f"cost: the checks {np.median(checks):.1f} ms median per photo, enroll_photo "
        f"{np.median(whole):.1f} ms (ratio {np.median(checks) / np.median(whole):.2f})"
    )
    if args.sheet:
        cells = [face_cell(r[1], r[2], f"{text} {r[0][:18]}") for r, text in flagged]
        cells += [np.zeros_like(cells[0])] * (-len(cells) % 6)
        sheet = np.vstack([np.hstack(cells[i : i + 6]) for i in range(0, len(cells), 6)])
        cv2.imwrite(str(args.sheet), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print("sheet:", args.sheet)


if __name__ == "__main__":
    main()
