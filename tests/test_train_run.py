"""Training and evaluation end to end on tiny synthetic data (random-init lite model)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from train_cache import write_cache

from facestream.models.heatmaps import render_heatmaps
from facestream.models.hrnet import hrnet128_lite, save_weights
from facestream.models.train.loss import adaptive_wing_loss
from facestream.models.train.train import TrainConfig, export_last, train


def test_loss_is_zero_on_target_and_respects_weights() -> None:
    target = render_heatmaps(torch.rand(2, 128, 2), (32, 32), 1.5)
    weight = torch.ones(2, 128)
    assert float(adaptive_wing_loss(target, target, weight)) == pytest.approx(0, abs=1e-6)
    noisy = target + 0.1 * torch.randn_like(target)
    full = adaptive_wing_loss(noisy, target, weight)
    weight[:, 64:] = 0
    half = adaptive_wing_loss(noisy, target, weight)
    noisy[:, 64:] = 5  # points of weight 0 no longer count
    assert float(adaptive_wing_loss(noisy, target, weight)) == pytest.approx(float(half))
    assert float(full) > 0


def test_two_steps_reduce_the_loss_on_a_tiny_batch() -> None:
    torch.manual_seed(0)
    model = hrnet128_lite()
    x = torch.rand(2, 3, 128, 128)
    target = render_heatmaps(torch.rand(2, 128, 2) * 0.8 + 0.1, (32, 32), 1.5)
    weight = torch.ones(2, 128)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(3):
        loss = adaptive_wing_loss(model(x), target, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[2] < losses[0]


def test_resumed_run_matches_an_uninterrupted_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FACESTREAM_CACHE", str(write_cache(tmp_path, n=2, n_eval=2)))

    def config(out: str, steps: int) -> TrainConfig:
        return TrainConfig(out=tmp_path / out, epochs=1, batch_size=2, workers=0, max_steps=steps)

    train(config("straight", 2), progress=False)
    train(config("resumed", 1), progress=False)
    state = train(config("resumed", 1), resume=True, progress=False)
    assert state["step"] == 2
    a = load_file(str(tmp_path / "straight" / "last.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "last.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    # The run's last weights export as a file the model loads strictly.
    exported = export_last("hrnet128_lite", tmp_path / "straight", tmp_path / "w.safetensors")
    hrnet128_lite(weights=exported)
    # Different from the starting point: training did move the weights.
    c = hrnet128_lite().state_dict()
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_eval_prints_the_figures(tmp_path: Path, capsys, monkeypatch) -> None:
    from facestream.models.train import cli_eval

    cache = write_cache(tmp_path, n=0, n_eval=3)
    monkeypatch.setenv("FACESTREAM_CACHE", str(cache))
    data = cache.parent / "data" / "faces300w"
    rng = np.random.default_rng(0)
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["split", "file", "subset", "original"] + [f"{a}{i}" for i in range(68) for a in "xy"]
        )
        for i in range(3):
            pts = rng.uniform(35, 85, (68, 2))
            pts[36], pts[45] = (40, 50), (80, 50)
            writer.writerow(["eval", f"face{i}.jpg", "x", "x"] + [f"{v:.2f}" for v in pts.ravel()])
    weights = tmp_path / "w.safetensors"
    save_weights(hrnet128_lite(), weights)
    parser = argparse.ArgumentParser()
    cli_eval.add_arguments(parser)
    for extra in ([], ["--box-from-labels"]):
        args = parser.parse_args(
            ["--labels", str(labels), "--images", str(data), "--weights", str(weights), *extra]
        )
        assert cli_eval.run(args) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["faces"] == 3
        assert 0 <= out["found"] <= 1
        if extra:
            assert out["found"] == 1
            for key in ("nme", "nme_median", "failure_rate"):
                assert np.isfinite(out[key])
            assert set(out["regions"]) == {"jaw", "brows", "nose", "eyes", "mouth"}
        assert "dlib" in out["peers"] and "mediapipe_ridge" in out["peers"]
