"""Teacher labels: the mesh-to-iBUG ridge mapping and the label store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facestream.models.train.label_store import KINDS, Provenance, cache_dir, load_labels
from facestream.models.train.mesh_to_ibug import (
    MeshToIbug,
    nme_report,
    point_errors,
    ridge_fit,
    similarity,
)

# Planted map of the synthetic tests: iBUG point k is the mean of two mesh vertices.
PAIRS = np.random.default_rng(7).integers(0, 468, size=(68, 2))


def rotation(angle: float, scale: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return scale * np.array([[c, -s], [s, c]])


def synthetic_faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Meshes ``(n, 478, 3)`` in random poses and their planted 68 points ``(n, 68, 2)``."""
    rng = np.random.default_rng(seed)
    # Like real faces, shapes vary along a few modes (identity, expression) around a mean.
    base, modes = np.split(np.random.default_rng(0).normal(size=(9, 478, 2)), [1])
    shapes = base + 0.05 * np.einsum("nk,kvd->nvd", rng.normal(size=(n, 8)), modes)
    points = shapes[:, PAIRS].mean(2)
    a = np.stack([rotation(rng.uniform(-0.5, 0.5), rng.uniform(20, 80)) for _ in range(n)])
    t = rng.uniform(50, 300, size=(n, 1, 2))
    meshes = np.concatenate([shapes @ a.transpose(0, 2, 1) + t, rng.normal(size=(n, 478, 1))], 2)
    return meshes, points @ a.transpose(0, 2, 1) + t


def test_ridge_fit_recovers_a_planted_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 20))
    w_true, b_true = rng.normal(size=(20, 3)), rng.normal(size=3)
    w, b = ridge_fit(x, x @ w_true + b_true, lam=1e-8)
    np.testing.assert_allclose(w, w_true, atol=1e-5)
    np.testing.assert_allclose(b, b_true, atol=1e-5)
    # A strong ridge shrinks the weights towards zero.
    w_big, _ = ridge_fit(x, x @ w_true + b_true, lam=1e3)
    assert np.abs(w_big).max() < 0.1 * np.abs(w_true).max()


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    dst = rng.normal(size=(30, 2))
    a_true = rotation(0.7, 2.5)
    t_true = np.array([10.0, -4.0])
    src = (dst - t_true) @ np.linalg.inv(a_true).T  # so that dst = src @ a.T + t
    a, t = similarity(src[None], dst)
    np.testing.assert_allclose(a[0], a_true, atol=1e-9)
    np.testing.assert_allclose(t[0], t_true, atol=1e-9)


def test_mesh_to_ibug_learns_the_planted_map_in_any_pose(tmp_path: Path):
    meshes, points = synthetic_faces(300, seed=1)
    mapping = MeshToIbug.fit(meshes, points, lam=1e-6)
    test_meshes, test_points = synthetic_faces(50, seed=2)
    errors = point_errors(mapping.predict(test_meshes), test_points)
    assert errors.mean() < 0.5, errors.mean()  # in % of the eye distance
    np.testing.assert_allclose(mapping.predict(test_meshes[0]), mapping.predict(test_meshes)[0])
    mapping.save(tmp_path / "m.npz")
    loaded = MeshToIbug.load(tmp_path / "m.npz")
    np.testing.assert_allclose(loaded.predict(test_meshes), mapping.predict(test_meshes))


def test_nme_report_regions_and_normaliser():
    truth = np.zeros((2, 68, 2))
    truth[:, 45, 0] = 100.0  # outer eye corners 100 px apart
    pred = truth.copy()
    pred[0, 0:17, 1] += 10.0  # jaw of face 0 off by 10% of the eye distance
    report = nme_report(point_errors(pred, truth))
    assert report["jaw"] == pytest.approx(5.0)  # 10% on one face of two
    assert report["mouth"] == 0.0
    assert report["nme"] == pytest.approx(10.0 * 17 / 68 / 2)


def write_cache(labels: Path, data_root: Path) -> MeshToIbug:
    """A tiny cache in the format ``labels.py`` writes, with a fitted mapping."""
    labels.mkdir(parents=True)
    meshes, points = synthetic_faces(6, seed=3)
    meshes = meshes.astype(np.float32)
    missed = meshes[2].copy()
    missed[:] = np.nan
    np.savez(
        labels / "faces300w.npz",
        data_root=np.array(str(data_root)),
        source=np.array([f"faces300w/{s}/{i}.jpg" for i, s in enumerate("ttteee")]),
        split=np.array(["train"] * 3 + ["eval"] * 3),
        mesh=np.concatenate([meshes[:2], missed[None], meshes[3:]]),
        score=np.full(6, 0.9, np.float32),
        human=points.astype(np.float32),
    )
    np.savez(
        labels / "stills.npz",
        data_root=np.array(str(data_root)),
        source=np.array(["stills/a/x.jpg", "stills/a/x.jpg"]),
        face=np.array([0, 1], np.int32),
        mesh=meshes[:2],
        score=np.array([0.9, 0.6], np.float32),
        box=np.zeros((2, 4), np.float32),
    )
    np.savez(
        labels / "videos.npz",
        data_root=np.array(str(data_root)),
        source=np.array(["videos/c.mp4"]),
        frame=np.array([12], np.int32),
        jpeg=np.array(["frames/videos/c/000012.jpg"]),
        face=np.array([0], np.int32),
        mesh=meshes[3:4],
        score=np.array([0.8], np.float32),
        box=np.zeros((1, 4), np.float32),
    )
    mapping = MeshToIbug.fit(*synthetic_faces(100, seed=4), lam=1e-4)
    mapping.save(labels / "mesh_to_ibug.npz")
    return mapping


def test_label_store_round_trip(tmp_path: Path):
    data_root = tmp_path / "data"
    mapping = write_cache(tmp_path / "cache" / "labels", data_root)
    items = load_labels(tmp_path / "cache")

    crops = [item for item in items if item.kind == "faces300w"]
    assert len(crops) == 5  # the crop without a mesh is left out
    assert [c.split for c in crops] == ["train", "train", "eval", "eval", "eval"]
    assert crops[0].image == data_root / "faces300w/t/0.jpg"
    assert (crops[0].ibug_provenance == Provenance.HUMAN).all()

    stills = [item for item in items if item.kind == "stills"]
    assert [(s.face, s.frame, s.split) for s in stills] == [(0, -1, "train"), (1, -1, "train")]
    assert (stills[1].ibug_provenance == Provenance.MAPPED).all()
    np.testing.assert_allclose(stills[1].ibug68, mapping.predict(stills[1].mesh), rtol=1e-6)

    (frame,) = [item for item in items if item.kind == "videos"]
    assert frame.image == tmp_path / "cache" / "labels" / "frames/videos/c/000012.jpg"
    assert (frame.frame, frame.source, frame.score) == (12, "videos/c.mp4", pytest.approx(0.8))

    for item in items:
        assert item.mesh.shape == (478, 3) and item.mesh.dtype == np.float32
        assert item.ibug68.shape == (68, 2) and item.ibug68.dtype == np.float32
        assert item.ibug_provenance.shape == (68,) and item.ibug_provenance.dtype == np.uint8

    moved = load_labels(tmp_path / "cache", data_root=tmp_path / "elsewhere", kinds=["stills"])
    assert moved[0].image == tmp_path / "elsewhere" / "stills/a/x.jpg"


def test_label_store_says_what_to_run_when_the_cache_is_missing(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="make labels"):
        load_labels(tmp_path)
    with pytest.raises(FileNotFoundError, match="make labels"):
        load_labels(tmp_path, kinds=["faces300w"])


@pytest.mark.data
def test_real_label_cache():
    labels = cache_dir() / "labels"
    if not (labels / "summary.json").is_file() or not (labels / "mesh_to_ibug.npz").is_file():
        pytest.skip(f"no teacher-label cache at {labels}: run `make labels` to build it")
    summary = json.loads((labels / "summary.json").read_text())
    items = load_labels()
    counts = {kind: sum(item.kind == kind for item in items) for kind in KINDS}
    crops = summary["faces300w"]
    assert counts["faces300w"] == sum(s["crops"] - s["missed"] for s in crops.values())
    assert crops["train"]["crops"] == 1207 and crops["eval"]["crops"] == 168
    assert crops["train"]["missed"] + crops["eval"]["missed"] < 0.05 * 1375
    assert counts["stills"] == summary["stills"]["faces"] > 0
    assert counts["videos"] == summary["videos"]["faces"] > 0
    for item in items:
        assert np.isfinite(item.mesh).all() and np.isfinite(item.ibug68).all()
        assert item.image.is_file(), item.image
    report = json.loads((labels / "mesh_to_ibug.json").read_text())
    assert report["ridge"]["nme"] < report["fixed_vertices"]["nme"]
