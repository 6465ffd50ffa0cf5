"""Our torch port of dlib's face ResNet against dlib itself, and our chip template.

Faces: 3 frames (start, a third, two thirds) of every single-person clip of ../shared/data
and the named stills of bench/face_match.py, landmarked by the engine (HRNet-128, shipped
weights), each cut to a 320 px crop around the face. dlib (scratch venv,
bench/dlib_chips.py) cuts its own 150 px chips from the crops with its 5-point landmarks and
describes them. Printed:

1. Conversion: `models/face_descriptor.py` on dlib's very chips against dlib's descriptors
   of them, float32 and float16 weights (max and median absolute difference, Euclidean
   distance), and the float16 file against the float32 one.
2. Chip template: our 128 landmarks mapped into dlib's chip (dlib's chip-to-crop map is
   measured, bench/dlib_chips.py), averaged over the clip faces; printed as the
   `CHIP_TEMPLATE` of filters/face_match.py. Held out on the stills (and the other way
   round), for several point sets used in the similarity fit: the distance between the
   descriptor of our chip and dlib's descriptor of the same face (median, 90th percentile).
3. Cost of our descriptor per face on this CPU (chip + network, median, batch 1).

Run::

    nice -n 10 .venv/bin/python bench/face_descriptor_vs_dlib.py [--dlib /tmp/venv-dlib]
        [--weights32 /tmp/fd32.safetensors]  # a float32 conversion, for the float16 check

`--fixture tests/data/dlib_descriptor_reference.npz` instead writes the test fixture: dlib's
chip of scikit-image's astronaut photo (NASA, public domain), the same chip mirrored and
darkened, and dlib's descriptors of the three (tests/test_face_match.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_match import DATA, SKIP_CLIPS, STILLS, largest  # noqa: E402

from facestream.filters import face_match  # noqa: E402
from facestream.models.face_descriptor import WEIGHTS_PATH, load_descriptor_net  # noqa: E402
from facestream.models.landmarks import GROUPS  # noqa: E402

CROP = 320  # px, side of the face crop handed to dlib
CACHE = Path.home() / ".cache" / "facestream" / "face_descriptor_vs_dlib.npz"
POINT_SETS = {
    "eye corners + nose base (dlib's 5)": face_match.CHIP_POINTS,
    "inner face (brows, eyes, nose, mouth)": np.concatenate(
        [GROUPS[g] for g in ("brows", "eyes", "nose", "mouth")]
    ),
    "eyes + nose": np.concatenate([GROUPS[g] for g in ("eyes", "nose")]),
    "all 128": np.arange(128),
}


def crop_face(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A CROP-px crop around the face: (crop, face box in it, points in it)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, side = (lo + hi) / 2, float((hi - lo).max()) * 1.8
    s = CROP / side
    m = np.array([[s, 0, CROP / 2 - s * centre[0]], [0, s, CROP / 2 - s * centre[1]]])
    flags = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m, (CROP, CROP), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    inner = points[:68] * s + m[:, 2]
    box = np.concatenate([inner.min(axis=0), inner.max(axis=0)]).round().astype(int)
    return crop, box, (points * s + m[:, 2]).astype(np.float32)


def gather() -> dict[str, np.ndarray]:
    """Crops, boxes, points and set labels (0 clip, 1 still) of every face; cached."""
    if CACHE.is_file():
        with np.load(CACHE) as data:
            return dict(data)
    import av

    from facestream.stream.live_chain import EngineLandmarks

    landmarks = EngineLandmarks(weights="default")
    images: list[tuple[np.ndarray, int]] = []
    for path in sorted((DATA / "videos").rglob("*.mp4")):
        if path.parent.name in SKIP_CLIPS:
            continue
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        images += [(frames[len(frames) * k // 3], 0) for k in range(3)]
    for rel in STILLS:
        image = cv2.cvtColor(cv2.imread(str(DATA / "stills" / rel)), cv2.COLOR_BGR2RGB)
        pad = max(image.shape[:2]) // 2
        images.append((cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE), 1))
    crops, boxes, points, sets = [], [], [], []
    for image, kind in images:
        face = largest(landmarks(image))
        if face is None:
            continue
        crop, box, pts = crop_face(image, np.asarray(face.points, np.float32))
        crops.append(crop)
        boxes.append(box)
        points.append(pts)
        sets.append(kind)
    out = {
        "crops": np.stack(crops),
        "rects": np.stack(boxes),
        "points": np.stack(points),
        "sets": np.array(sets),
    }
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, **out)
    return out


def run_dlib(dlib_python: Path, faces: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "crops.npz", Path(tmp) / "out.npz"
        np.savez(src, crops=faces["crops"], rects=faces["rects"])
        script = Path(__file__).resolve().parent / "dlib_chips.py"
        subprocess.run([str(dlib_python), str(script), str(src), str(out)], check=True)
        with np.load(out) as data:
            return dict(data)


def describe(net: torch.nn.Module, chips: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return net(torch.from_numpy(chips)).numpy()


def stats(name: str, a: np.ndarray, b: np.ndarray) -> None:
    diff = np.abs(a - b)
    dist = np.linalg.norm(a - b, axis=1)
    print(
        f"| {name} | {diff.max():.2e} | {np.median(diff):.2e} | {dist.max():.2e} "
        f"| {np.median(dist):.2e} |"
    )


def chip_template(points: np.ndarray, chip_to_crop: np.ndarray) -> np.ndarray:
    """Mean position of each landmark in dlib's chip, over the given faces."""
    mapped = []
    for pts, m in zip(points, chip_to_crop, strict=True):
        a, t = m[:, :2], m[:, 2]
        mapped.append((pts - t) @ np.linalg.inv(a).T)
    return np.mean(mapped, axis=0).astype(np.float32)


def our_descriptors(
    net: torch.nn.Module,
    crops: np.ndarray,
    points: np.ndarray,
    template: np.ndarray,
    use: np.ndarray,
) -> np.ndarray:
    """Descriptors of chips fitted on the points `use` of `template`."""
    pairs = zip(crops, points, strict=True)
    chips = [face_match.face_chip(c, p[use], template[use]) for c, p in pairs]
    return describe(net, np.stack(chips))


def write_fixture(dlib_python: Path, path: Path) -> None:
    """dlib's chips and descriptors of the astronaut photo, for the tests."""
    from skimage.data import astronaut

    from facestream.stream.live_chain import EngineLandmarks

    image = astronaut()
    face = largest(EngineLandmarks(weights="default")(image))
    crop, box, _ = crop_face(image, np.asarray(face.points, np.float32))
    chip = run_dlib(dlib_python, {"crops": crop[None], "rects": box[None]})["chips"][0]
    chips = np.stack([chip, chip[:, ::-1], (chip * 0.6).astype(np.uint8)])
    with tempfile.TemporaryDirectory() as tmp:
        # dlib describes a 150 px crop as its own chip when the box is the whole crop.
        src, out = Path(tmp) / "chips.npz", Path(tmp) / "out.npz"
        np.savez(src, chips=chips)
        code = (
            "import sys, numpy as np, dlib, face_recognition_models as m;"
            "e = dlib.face_recognition_model_v1(m.face_recognition_model_location());"
            "c = np.load(sys.argv[1])['chips'];"
            "np.savez(sys.argv[2], d=np.array([e.compute_face_descriptor(np.ascontiguousarray(x))"
            " for x in c], np.float32))"
        )
        subprocess.run([str(dlib_python), "-c", code, str(src), str(out)], check=True)
        with np.load(out) as data:
            descriptors = data["d"]
    np.savez_compressed(path, chips=chips, descriptors=descriptors)
    print(f"{len(chips)} chips and dlib's descriptors -> {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dlib", type=Path, default=Path("/tmp/venv-dlib"))
    parser.add_argument("--weights32", type=Path, help="a float32 conversion")
    parser.add_argument("--fixture", type=Path, help="write the test fixture here instead")
    args = parser.parse_args()
    if args.fixture:
        write_fixture(args.dlib / "bin" / "python", args.fixture)
        return
    torch.set_num_threads(1)
    faces = gather()
    dlib = run_dlib(args.dlib / "bin" / "python", faces)
    clips, stills = faces["sets"] == 0, faces["sets"] == 1
    print(f"{len(faces['crops'])} faces ({clips.sum()} clip frames, {stills.sum()} stills)")

    print("\n| ours vs dlib | max abs | median abs | max distance | median distance |")
    print("|---|---|---|---|---|")
    stats("dlib: descriptor of its chip vs of the image", dlib["from_chip"], dlib["from_image"])
    net16 = load_descriptor_net(WEIGHTS_PATH)
    ours16 = describe(net16, dlib["chips"])
    if args.weights32:
        ours32 = describe(load_descriptor_net(args.weights32), dlib["chips"])
        stats("float32 weights, dlib's chips", ours32, dlib["from_chip"])
        stats("float16 weights vs float32 weights", ours16, ours32)
    stats(f"{WEIGHTS_PATH.name}, dlib's chips", ours16, dlib["from_chip"])
    print(
        f"dlib's descriptor norm: median {np.median(np.linalg.norm(dlib['from_chip'], axis=1)):.3f}"
    )

    template = chip_template(faces["points"][clips], dlib["chip_to_crop"][clips])
    other = chip_template(faces["points"][stills], dlib["chip_to_crop"][stills])
    print(f"\ntemplate from clips vs from stills: {np.abs(template - other).max():.2f} px max")
    print("\n| points fitted | held-out stills: median, p90 | held-out clips: median, p90 |")
    print("|---|---|---|")
    for name, use in POINT_SETS.items():
        cells = []
        for fit, test in ((clips, stills), (stills, clips)):
            t = chip_template(faces["points"][fit], dlib["chip_to_crop"][fit])
            d = our_descriptors(net16, faces["crops"][test], faces["points"][test], t, use)
            dist = np.linalg.norm(d - dlib["from_image"][test], axis=1)
            cells.append(f"{np.median(dist):.3f}, {np.percentile(dist, 90):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    every = chip_template(faces["points"], dlib["chip_to_crop"])
    use = face_match.CHIP_POINTS
    print("\nCHIP_TEMPLATE (all faces, points CHIP_POINTS):")
    print(np.array2string(every[use], precision=2, separator=", "))
    pairs = zip(faces["crops"], faces["points"], strict=True)
    shipped = [face_match.face_chip(c, p) for c, p in pairs]
    dist = np.linalg.norm(describe(net16, np.stack(shipped)) - dlib["from_image"], axis=1)
    print(f"shipped face_chip: distance to dlib median {np.median(dist):.3f}, max {dist.max():.3f}")

    ms = []
    for crop, pts in zip(faces["crops"][:40], faces["points"][:40], strict=True):
        start = time.perf_counter()
        face_match.describe_faces(crop, [pts])
        ms.append(1000 * (time.perf_counter() - start))
    start = time.perf_counter()
    describe(net16, dlib["chips"][:16])
    batch16 = 1000 * (time.perf_counter() - start) / 16
    print(
        f"\nper face (1 thread): chip + network {np.median(ms):.1f} ms median (batch 1), "
        f"network in a batch of 16 {batch16:.1f} ms; dlib's network "
        f"{np.median(dlib['ms']):.1f} ms median (its own threads)"
    )


if __name__ == "__main__":
    main()
