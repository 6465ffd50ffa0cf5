"""ONNX Runtime on the CPU: the export equals the module, is kept and reused, never stale."""

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from facestream.models import cpu_runtime  # noqa: E402
from facestream.models.hrnet import create_model, save_weights  # noqa: E402

EXAMPLE = torch.rand(1, 3, 128, 128)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESTREAM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def _model_and_file(tmp_path, name="w.safetensors"):
    net = create_model("hrnet128_lite").eval()
    path = tmp_path / name
    save_weights(net, path)
    return net, path


def test_export_is_kept_and_loaded_next_time(tmp_path, cache, monkeypatch):
    net, path = _model_and_file(tmp_path)
    key = cpu_runtime.export_key(net, path, EXAMPLE)
    first = cpu_runtime.OnnxRuntimeNet(net, EXAMPLE, key=key)
    assert (cache / f"{key}.onnx").is_file()

    def no_export(*args):
        raise AssertionError("exported again")

    monkeypatch.setattr(cpu_runtime, "export", no_export)
    second = cpu_runtime.OnnxRuntimeNet(net, EXAMPLE, key=key)
    x = torch.rand(2, 3, 128, 128)
    with torch.inference_mode():
        assert torch.allclose(second(x), net(x), atol=1e-5)
        assert torch.equal(second(x), first(x))


def test_key_changes_with_the_weights_and_the_input(tmp_path):
    net, path = _model_and_file(tmp_path)
    other, other_path = _model_and_file(tmp_path, "other.safetensors")
    key = cpu_runtime.export_key(net, path, EXAMPLE)
    assert cpu_runtime.export_key(net, path, EXAMPLE) == key
    assert cpu_runtime.export_key(other, other_path, EXAMPLE) != key
    assert cpu_runtime.export_key(net, path, torch.rand(1, 3, 64, 64)) != key


def test_damaged_cache_file_is_exported_again(tmp_path, cache):
    net, path = _model_and_file(tmp_path)
    key = cpu_runtime.export_key(net, path, EXAMPLE)
    cache.mkdir(parents=True)
    (cache / f"{key}.onnx").write_bytes(b"half a file")
    fast = cpu_runtime.OnnxRuntimeNet(net, EXAMPLE, key=key)
    with torch.inference_mode():
        assert torch.allclose(fast(EXAMPLE), net(EXAMPLE), atol=1e-5)
    assert (cache / f"{key}.onnx").read_bytes() != b"half a file"


def test_full_range_detector_on_onnx_runtime_equals_torch(cache):
    from skimage.data import astronaut

    from facestream.models.detector import FaceDetector

    detector = FaceDetector("full")
    assert isinstance(detector._run, cpu_runtime.OnnxRuntimeNet)
    fast = detector.detect(astronaut())
    detector._run = detector.net
    slow = detector.detect(astronaut())
    assert len(fast) == len(slow) == 1
    assert np.abs(fast[0].box - slow[0].box).max() < 1e-3
    assert np.abs(fast[0].keypoints - slow[0].keypoints).max() < 1e-3
    assert abs(fast[0].score - slow[0].score) < 1e-5
