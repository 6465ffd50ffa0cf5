"""ONNX Runtime for the small CPU networks: HRNet-128 lite and BlazeFace's full range.

PyTorch runs most convolutions of these small networks (a dozen channels, 4-32 px maps, one
image) through its generic im2col kernel, and each of its operators costs several
microseconds beside the arithmetic. ONNX Runtime runs the same graph with its own kernels
in about half the time on one thread: HRNet-128 lite 1.5 ms a face against TorchScript's
2.6, BlazeFace full range 4.4 ms a frame against 9.4 (docs/BENCHMARKS.md, "Where the time
goes"). The weights stay what they are: the module, loaded strictly from its safetensors,
is exported to ONNX, and its outputs equal the module's within float rounding.

The export takes 1-3 s, more than the detector saves on a short clip, so an export made from
a weights file is kept in `cache_dir` under a name (`export_key`) that changes with the
weights' bytes, the network's source, the input shape and the torch and onnx versions; the
next start loads it in milliseconds.

`OnnxRuntimeNet` is a drop-in callable for the module (torch tensors in and out); it needs
the ``onnxruntime`` and ``onnx`` packages (`available`), and `onnx_runtime_or_none` leaves
the callers on their torch path where those are missing or fail.

Example:
    >>> import torch
    >>> from facestream.models.hrnet import hrnet128_lite
    >>> net = hrnet128_lite().eval()
    >>> fast = OnnxRuntimeNet(net, torch.rand(1, 3, 128, 128))
    >>> x = torch.rand(2, 3, 128, 128)
    >>> bool(torch.allclose(fast(x), net(x), atol=1e-5))
    True
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def available() -> bool:
    """True when ONNX Runtime and the ONNX exporter's package are installed."""
    return bool(importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"))


def cache_dir() -> Path:
    """Where exported models are kept: ``$FACESTREAM_CACHE/onnx`` (by default
    ``~/.cache/facestream/onnx``)."""
    root = os.environ.get("FACESTREAM_CACHE", Path.home() / ".cache" / "facestream")
    return Path(root) / "onnx"


def export_key(module: nn.Module, weights: str | Path, example: torch.Tensor) -> str:
    """The cache name of ``module``'s export with the weights file ``weights``: it changes
    with the weights' bytes, the module's source file, this file, the input's shape and the
    torch and onnx versions, so a stale export is never loaded."""
    import onnx

    digest = hashlib.sha256()
    for path in (Path(weights), Path(inspect.getfile(type(module))), Path(__file__)):
        digest.update(path.read_bytes())
    digest.update(f"{tuple(example.shape)} {torch.__version__} {onnx.__version__}".encode())
    return f"{type(module).__name__}-{digest.hexdigest()[:24]}"


def export(module: nn.Module, example: torch.Tensor) -> bytes:
    """``module`` as an ONNX model (bytes), the first axis of its input left free."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The tracing exporter warns about the traced shape checks and about itself
        # (TorchScript-based); it is the one that needs no further packages.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (example.contiguous(),),
            buffer,  # type: ignore[arg-type]  # the tracing exporter takes file objects
            dynamo=False,
            input_names=["input"],
            dynamic_axes={"input": {0: "batch"}},
        )
    return buffer.getvalue()


class OnnxRuntimeNet:
    """A module exported to ONNX and run by ONNX Runtime on the CPU.

    Args:
        module: the network (in eval mode; its Python-level shape checks are traced away,
            as by TorchScript's trace: they are fixed for a given input size).
        example: one input of the right shape; the first axis (the batch) stays free.
        num_threads: ONNX Runtime's intra-op threads (the engine's one thread by default,
            leaving the other cores to decoding and encoding).
        key: the export's name in `cache_dir` (`export_key`): an export kept there is
            loaded instead of exporting again (the export takes 1-3 s), and a new one is
            kept; None exports in memory only (e.g. random weights).

    Calling it with a float tensor returns the module's output on the CPU: one tensor, or
    a tuple of tensors for a module with several outputs.
    """

    def __init__(
        self, module: nn.Module, example: torch.Tensor, num_threads: int = 1, key: str | None = None
    ) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        # Idle pool threads must not spin on a machine whose other cores decode and encode.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = None if key is None else cache_dir() / f"{key}.onnx"
        if path is not None and path.is_file():
            try:
                self.session = onnxruntime.InferenceSession(
                    path.read_bytes(), options, providers=["CPUExecutionProvider"]
                )
                return
            except Exception:  # a damaged file: export again and replace it
                pass
        model = export(module, example)
        self.session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        if path is not None:
            _keep(path, model)

    def __call__(self, x: torch.Tensor) -> Any:
        inputs = {"input": np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)}
        outputs = tuple(torch.from_numpy(y) for y in self.session.run(None, inputs))
        return outputs[0] if len(outputs) == 1 else outputs


def onnx_runtime_or_none(
    module: nn.Module, example: torch.Tensor, num_threads: int, weights: str | Path | None
) -> OnnxRuntimeNet | None:
    """``module`` on ONNX Runtime (its export kept in `cache_dir` when it came from the
    ``weights`` file), or None where ONNX Runtime is not installed or cannot run it (with a
    warning): the caller then keeps its torch path."""
    if not available():
        return None
    try:
        key = None if weights is None else export_key(module, weights, example)
        return OnnxRuntimeNet(module, example, num_threads, key)
    except Exception as error:  # an exporter or runtime version that does not fit
        warnings.warn(
            f"ONNX Runtime could not run {type(module).__name__} ({error}); using torch",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def _keep(path: Path, model: bytes) -> None:
    """Write ``model`` to ``path`` whole (through a temporary name, so that a process
    reading it meanwhile never sees half a file); a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(model)
        os.replace(temporary, path)
    except OSError:
        pass
