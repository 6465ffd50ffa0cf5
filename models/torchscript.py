"""TorchScript trace + freeze of a network for CPU inference.

Freezing folds BatchNorm into the convolutions and inlines the weights: the landmark
engine and the face check (`facestream.models.face_check`, whose detector runs about 1.8x
faster so) use it on the CPU.
"""

from __future__ import annotations

import warnings

import torch


def freeze_for_cpu(net: torch.nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """``net`` (in eval mode) traced on ``example`` and frozen."""
    with warnings.catch_warnings(), torch.inference_mode():
        # Tracing warns about the Python-level shape checks (fixed per network) and torch
        # 2.13 marks TorchScript deprecated; it still is the fastest CPU path here.
        warnings.simplefilter("ignore")
        return torch.jit.freeze(torch.jit.trace(net.eval(), example, check_trace=False))
