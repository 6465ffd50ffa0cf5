"""ONNX Runtime for HRNet-128 on the CPU.

PyTorch runs most convolutions of a small network like HRNet-128 lite (a dozen channels,
4-32 px maps, one face) through its generic im2col kernel, and each of its operators costs
several microseconds beside the arithmetic. ONNX Runtime runs the same graph with its own
kernels in about half the time on one thread: 1.5 ms a face against TorchScript's 2.6
(docs/BENCHMARKS.md, "Where the time goes"). The weights stay what they are: the module,
loaded strictly from its safetensors, is exported to ONNX in memory when it is built (about
a second, as TorchScript's trace and freeze), and its outputs equal the module's within
float rounding.

BlazeFace's full range would run in 4.4 ms instead of 9.4, but its export takes 1.5-3.5 s,
more than it saves on a clip of a few minutes with the detector every 30 frames; the
detector stays on torch.

`OnnxRuntimeNet` is a drop-in callable for the module (torch tensors in and out); it needs
the ``onnxruntime`` and ``onnx`` packages (`available`), and the engine keeps TorchScript
where they are missing.

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

import importlib.util
import io
import warnings

import numpy as np
import torch
from torch import nn


def available() -> bool:
    """True when ONNX Runtime and the ONNX exporter's package are installed."""
    return bool(importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"))


class OnnxRuntimeNet:
    """A module exported to ONNX in memory and run by ONNX Runtime on the CPU.

    Args:
        module: the network (in eval mode; its Python-level shape checks are traced away,
            as by TorchScript's trace: they are fixed for a given input size).
        example: one input of the right shape; the first axis (the batch) stays free.
        num_threads: ONNX Runtime's intra-op threads (the engine's one thread by default,
            leaving the other cores to decoding and encoding).

    Calling it with a float tensor returns the module's output (one tensor) on the CPU.
    """

    def __init__(self, module: nn.Module, example: torch.Tensor, num_threads: int = 1) -> None:
        import onnxruntime

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
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        # Idle pool threads must not spin on a machine whose other cores decode and encode.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            buffer.getvalue(), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        inputs = {"input": np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)}
        (output,) = self.session.run(None, inputs)
        return torch.from_numpy(output)
