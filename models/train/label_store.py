"""Reads the teacher-label cache written by ``make labels`` (numpy only, main venv).

Each face becomes a ``LabelItem``: the image to read, the 478-point Face Mesh, and the 68
iBUG points with a provenance per point: human (faces300w) or mapped (the ridge mapping of
``mesh_to_ibug`` applied to the mesh, for stills and video frames).

Example:
    >>> from facestream.models.train.label_store import load_labels
    >>> items = load_labels()
    >>> train = [item for item in items if item.split == "train"]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np

from facestream.models.train.mesh_to_ibug import MeshToIbug, cache_dir, mesh_yaw

KINDS = ("faces300w", "stills", "videos")
__all__ = ["KINDS", "LabelItem", "Provenance", "cache_dir", "load_labels"]


class Provenance(IntEnum):
    """Where a target point comes from, stored per point as uint8 so a loss can weight it."""

    HUMAN = 0  # annotated by people (faces300w)
    TEACHER = 1  # a MediaPipe Face Mesh vertex or a fixed interpolation of vertices
    MAPPED = 2  # the 68 iBUG points predicted from the mesh by the ridge mapping


@dataclass(frozen=True)
class LabelItem:
    """One labelled face.

    Attributes:
        kind: "faces300w", "stills" or "videos".
        source: the image or video, relative to the data root.
        frame: the frame index in the video, -1 for images.
        face: index of the face in its image, largest first (0 for faces300w crops).
        image: the file to read: the data file, or for video frames the cached JPEG.
        split: "train", or "eval" for the faces300w eval crops (never train on those).
        mesh: ``(478, 3)`` float32 Face Mesh in image pixels (pixel centres; z scaled like x).
        score: the BlazeFace detection score of the face.
        ibug68: ``(68, 2)`` float32 iBUG points in image pixels.
        ibug_provenance: ``(68,)`` uint8, ``Provenance.HUMAN`` or ``Provenance.MAPPED``.
        yaw: head yaw in degrees from the mesh (``mesh_to_ibug.mesh_yaw``); mapped points of
            faces beyond about 45 degrees are an extrapolation of the mapping.
    """

    kind: str
    source: str
    frame: int
    face: int
    image: Path
    split: str
    mesh: np.ndarray
    score: float
    ibug68: np.ndarray
    ibug_provenance: np.ndarray
    yaw: float


def load_labels(
    cache: Path | None = None, data_root: Path | None = None, kinds: Iterable[str] = KINDS
) -> list[LabelItem]:
    """All labelled faces of the cache.

    faces300w crops on which Face Mesh found no face are left out (``summary.json`` counts
    them).

    Args:
        cache: the cache root (its ``labels/`` folder is read); default ``cache_dir()``.
        data_root: where the data lies; default the one recorded at labelling time.
        kinds: which of ``KINDS`` to load.

    Raises:
        FileNotFoundError: the cache or the fitted mapping is missing (run ``make labels``).
    """
    labels = (cache or cache_dir()) / "labels"
    kinds = list(kinds)
    mapping = None
    if any(kind != "faces300w" for kind in kinds):
        path = labels / "mesh_to_ibug.npz"
        if not path.is_file():
            raise FileNotFoundError(f"No fitted mesh-to-iBUG mapping at {path}: run `make labels`.")
        mapping = MeshToIbug.load(path)
    items: list[LabelItem] = []
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"Unknown label kind {kind!r}; expected one of {KINDS}.")
        path = labels / f"{kind}.npz"
        if not path.is_file():
            raise FileNotFoundError(f"No teacher labels at {path}: run `make labels`.")
        with np.load(path) as f:
            arrays = {key: f[key] for key in f.files}
        items.extend(_items(kind, arrays, labels, data_root, mapping))
    return items


def _items(
    kind: str,
    arrays: dict[str, np.ndarray],
    labels: Path,
    data_root: Path | None,
    mapping: MeshToIbug | None,
) -> list[LabelItem]:
    root = data_root or Path(str(arrays["data_root"]))
    mesh = arrays["mesh"]
    n = len(mesh)
    if kind == "faces300w":
        keep = np.isfinite(mesh).all((1, 2))
        ibug68 = arrays["human"]
        provenance = Provenance.HUMAN
        split = arrays["split"]
    else:
        keep = np.ones(n, bool)
        assert mapping is not None
        ibug68 = mapping.predict(mesh) if n else np.zeros((0, 68, 2), np.float32)
        provenance = Provenance.MAPPED
        split = np.full(n, "train")
    frame = arrays.get("frame", np.full(n, -1))
    face = arrays.get("face", np.zeros(n, np.int32))
    jpeg = arrays.get("jpeg")
    yaw = mesh_yaw(mesh)
    return [
        LabelItem(
            kind=kind,
            source=str(arrays["source"][i]),
            frame=int(frame[i]),
            face=int(face[i]),
            image=labels / str(jpeg[i]) if jpeg is not None else root / str(arrays["source"][i]),
            split=str(split[i]),
            mesh=mesh[i].astype(np.float32),
            score=float(arrays["score"][i]),
            ibug68=ibug68[i].astype(np.float32),
            ibug_provenance=np.full(68, provenance, np.uint8),
            yaw=float(yaw[i]),
        )
        for i in np.flatnonzero(keep)
    ]
