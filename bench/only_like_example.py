"""The `--only-like` picture of docs/SWAP.md: a two-person clip, one reference photo.

sadtalker/WDA_KatieHill_000 and retalking/3 are placed side by side (their first 50 frames,
400 px each); the reference is the first frame of sadtalker/WDA_AlexandriaOcasioCortez_000,
another clip of the right-hand woman; the source is face_recognition/obama.jpg.
`facestream swap --only-like` runs on the pair clip; the distances it logs are printed and
frame 25 of its output is drawn beside the reference and the source. Run::

    nice -n 10 .venv/bin/python bench/only_like_example.py [--out docs/images/only_like.jpg]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CLIPS = ("sadtalker/WDA_KatieHill_000.mp4", "retalking/3.mp4")
REFERENCE = "sadtalker/WDA_AlexandriaOcasioCortez_000.mp4"
SOURCE = DATA / "stills" / "face_recognition" / "obama.jpg"
SIDE, FRAMES, SHOWN = 400, 50, 25


def frames(path: Path, count: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == count:
                return out
    return out


def square(image: np.ndarray, side: int) -> np.ndarray:
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)


def write(path: Path, images: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = images[0].shape[1], images[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12"}
        for img in images:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/only_like.jpg"))
    args = parser.parse_args()
    left, right = (frames(DATA / "videos" / clip, FRAMES) for clip in CLIPS)
    pair = [np.hstack([square(a, SIDE), square(b, SIDE)]) for a, b in zip(left, right, strict=True)]
    reference = frames(DATA / "videos" / REFERENCE, 1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        clip, out, ref = Path(tmp) / "pair.mp4", Path(tmp) / "out.mp4", Path(tmp) / "ref.png"
        write(clip, pair)
        cv2.imwrite(str(ref), cv2.cvtColor(reference, cv2.COLOR_RGB2BGR))
        command = [str(Path(sys.executable).parent / "facestream"), "--debug", "swap"]
        command += [str(clip), str(out), "--source", str(SOURCE), "--only-like", str(ref)]
        log = subprocess.run(command, check=True, capture_output=True, text=True).stderr
        shown = frames(out, SHOWN + 1)[SHOWN]
    for line in log.splitlines():
        if "--only-like reference" in line:
            print(line)
    source = cv2.cvtColor(cv2.imread(str(SOURCE)), cv2.COLOR_BGR2RGB)
    h, w = source.shape[:2]
    side = min(h, w)
    source = source[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
    column = np.vstack([square(reference, SIDE // 2), square(source, SIDE // 2)])
    figure = np.hstack([column, shown])
    labels = np.zeros((26, figure.shape[1], 3), np.uint8)
    for x, text in ((4, "reference | source"), (SIDE // 2 + 8, "not like the reference: kept")):
        cv2.putText(labels, text, (x, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    cv2.putText(
        labels,
        "like the reference: swapped",
        (SIDE // 2 + SIDE + 8, 18),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.5,
        (255, 255, 255),
        1,
    )
    figure = np.vstack([figure, labels])
    cv2.imwrite(str(args.out), cv2.cvtColor(figure, cv2.COLOR_RGB2BGR))
    distances = re.findall(r"distance ([0-9.]+)", log)
    print(f"{args.out}: {figure.shape[1]} x {figure.shape[0]}; distances {distances}")


if __name__ == "__main__":
    main()
