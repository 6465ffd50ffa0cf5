"""HRNet-128 variants with random weights on CPU: shapes, NaNs, checks, strict loading."""

import dataclasses

import pytest
import torch

from facestream.models import hrnet
from facestream.models.hrnet import (
    CONFIGS,
    HRNet,
    WeightsError,
    create_model,
    load_weights,
    save_weights,
)

VARIANTS = sorted(CONFIGS)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: create_model(name).eval() for name in VARIANTS}


@pytest.mark.parametrize("name", VARIANTS)
def test_forward_shapes_and_no_nans(models, name):
    model = models[name]
    cfg = model.config
    s, h = cfg.input_size, cfg.heatmap_size
    with torch.inference_mode():
        feats = model.forward_features(torch.rand(1, 3, s, s))
        out = model.forward_head(feats)
    assert out.shape == (1, 128, h, h)
    assert feats[0].shape[-1] == h  # the high-resolution stream is at the heatmap stride
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", VARIANTS)
def test_structure_follows_config(models, name):
    model, cfg = models[name], CONFIGS[name]
    assert [len(stage) for stage in model.stages] == [s.num_modules for s in cfg.stages]
    assert [len(stage[0].branches) for stage in model.stages] == [1, 2, 3, 4]
    # Fusion inside every module of the multi-branch stages.
    assert all(len(m.fuse) >= 1 for stage in model.stages[1:] for m in stage)


def test_depthwise_separable_config():
    lite = CONFIGS["hrnet128_lite"]
    stages = tuple(
        dataclasses.replace(
            stage, block="dwsep", num_channels=tuple(2 * c for c in stage.num_channels)
        )
        for stage in lite.stages
    )
    cfg = dataclasses.replace(
        lite, stem="lite", stem_width=24, stages=stages, separable_fusion=True
    )
    model = HRNet(cfg).eval()
    with torch.inference_mode():
        out = model(torch.rand(1, 3, 128, 128))
    assert out.shape == (1, 128, 32, 32) and torch.isfinite(out).all()
    assert any(m.groups > 1 for m in model.modules() if isinstance(m, torch.nn.Conv2d))


def test_builders():
    assert hrnet.hrnet128_lite().config.name == "hrnet128_lite"
    w18 = hrnet.hrnet128_w18()
    assert w18.config.input_size == 256 and w18.config.heatmap_stride == 4
    assert w18.config.stages[3].num_channels == (18, 36, 72, 144)
    with pytest.raises(ValueError, match="unknown"):
        create_model("hrnet128_nope")


def test_shape_checks_raise_value_error(models):
    model = models["hrnet128_lite"]
    s = model.config.input_size
    for bad in (torch.rand(3, s, s), torch.rand(1, 1, s, s), torch.rand(1, 3, s + 32, s)):
        with pytest.raises(ValueError, match="expects input"):
            model(bad)
    with pytest.raises(ValueError):
        HRNet(dataclasses.replace(model.config, stages=model.config.stages[:3]))


def test_frozen_torchscript_matches_eager(models):
    model = models["hrnet128_lite"]
    s = model.config.input_size
    x = torch.rand(1, 3, s, s)
    with torch.inference_mode():
        frozen = torch.jit.freeze(torch.jit.trace(model, x, check_trace=False))
        assert torch.allclose(frozen(x), model(x), atol=1e-4)


def test_weights_round_trip(tmp_path, models):
    model = models["hrnet128_lite"]
    path = tmp_path / "lite.safetensors"
    save_weights(model, path)
    fresh = create_model("hrnet128_lite", weights=path).eval()
    x = torch.rand(1, 3, 128, 128)
    with torch.inference_mode():
        assert torch.equal(fresh(x), model(x))


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(create_model("hrnet128_lite"), tmp_path / "nope.safetensors")


def test_default_weights_absent_says_not_shipped(monkeypatch, tmp_path):
    monkeypatch.setattr(hrnet, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(WeightsError, match="no trained weights are shipped"):
        hrnet.hrnet128_lite(weights="default")


def test_truncated_file(tmp_path, models):
    path = tmp_path / "lite.safetensors"
    save_weights(models["hrnet128_lite"], path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"lite\.safetensors.*not a readable"):
        load_weights(create_model("hrnet128_lite"), path)


def test_other_variant_is_rejected(tmp_path, models):
    path = tmp_path / "w18.safetensors"
    save_weights(models["hrnet128_w18"], path)
    with pytest.raises(WeightsError, match="holds hrnet128_w18 weights"):
        load_weights(create_model("hrnet128_lite"), path)


def test_missing_keys_and_wrong_shapes(tmp_path, models):
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in models["hrnet128_lite"].state_dict().items()}
    first = next(iter(state))
    path = tmp_path / "partial.safetensors"
    save_file({k: v for k, v in state.items() if k != first}, str(path))
    with pytest.raises(WeightsError, match="1 missing keys"):
        load_weights(create_model("hrnet128_lite"), path)
    state[first] = torch.zeros(1)
    save_file(state, str(path))
    with pytest.raises(WeightsError, match="wrong shape"):
        load_weights(create_model("hrnet128_lite"), path)
