"""dlib's face-recognition ResNet, in torch: a 150 x 150 RGB face chip -> 128-d descriptor.

The network of dlib's `dnn_face_recognition_ex.cpp` (`dlib_face_recognition_resnet_model_v1`,
public domain, by Davis King; converted by `models/convert_dlib_resnet.py`, card in
`models/weights/FACE_DESCRIPTOR.md`): a 7 x 7 stride-2 conv (32) and a 3 x 3 stride-2 max
pool, then 14 residual blocks of two 3 x 3 convs (3 at 32 channels, 4 at 64, 3 at 128, 4 at
256; the first block of each width after 32, and the last block, halve the resolution: 35 ->
17 -> 8 -> 4 -> 2 px), a global average pool and a 128 x 256 linear map without bias: 29
convs in all. dlib's batch-norm layers are frozen affine maps at inference; the converter
folds each into the conv before it, so every conv here has a bias and nothing else.

Two details follow dlib rather than the usual torch ResNet:
- dlib pads a conv or pool only when its stride is 1, so the stride-2 layers see no padding.
- A downsampling block's shortcut is a 2 x 2 average pool of its input, with no projection;
  dlib adds two tensors of different shapes over the larger shape, as if the smaller were
  zero-padded at the end of each axis (channels 32 -> 64, and 4 x 4 vs 3 x 3 at 8 -> 4 px).

Two faces are the same person when their descriptors are less than about 0.6 apart
(Euclidean), dlib's threshold.

Example:
    >>> net = load_descriptor_net()  # doctest: +SKIP
    >>> net(chips).shape  # chips: (N, 150, 150, 3) uint8 RGB  # doctest: +SKIP
    torch.Size([N, 128])
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

CHIP_SIZE = 150  # px, side of the RGB face chip the network reads
DESCRIPTOR_SIZE = 128
# (channels, blocks) per stage; a stage after the first starts by halving the resolution.
STAGES = ((32, 3), (64, 4), (128, 3), (256, 3), (256, 1))
WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "dlib_face_resnet_v1.safetensors"


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`a + b` over the larger of the two shapes, the smaller zero-padded at the end."""
    c, h, w = (max(x, y) for x, y in zip(a.shape[1:], b.shape[1:], strict=True))

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return pad(a) + pad(b)


class Block(nn.Module):
    """Two 3 x 3 convs and a shortcut; `down` halves the resolution (stride 2, no padding)."""

    def __init__(self, in_channels: int, channels: int, down: bool) -> None:
        super().__init__()
        self.down = down
        stride, padding = (2, 0) if down else (1, 1)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, padding)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_padded(shortcut, y))


class FaceDescriptorNet(nn.Module):
    """dlib's ResNet-29 face descriptor: uint8 RGB chips `(N, 150, 150, 3)` -> `(N, 128)`.

    The input is normalised as dlib does: `(pixel - input_mean) / 256` per RGB channel.
    """

    input_mean: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        # Filled from the converted file (dlib stores it in its input layer).
        self.register_buffer("input_mean", torch.zeros(3))
        self.stem = nn.Conv2d(3, 32, 7, 2, 0)
        blocks, width = [], 32
        for stage, (channels, count) in enumerate(STAGES):
            for i in range(count):
                blocks.append(Block(width, channels, down=stage > 0 and i == 0))
                width = channels
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(width, DESCRIPTOR_SIZE, bias=False)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = chips.permute(0, 3, 1, 2).to(self.stem.weight.dtype)
        x = (x - self.input_mean.to(x.dtype)[None, :, None, None]) / 256.0
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))


@cache
def load_descriptor_net(path: Path | str = WEIGHTS_PATH, device: str = "cpu") -> FaceDescriptorNet:
    """The network with the converted weights, loaded strictly, in eval mode (cached)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"the face descriptor weights {path} are missing")
    net = FaceDescriptorNet()
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    net.load_state_dict(state, strict=True)
    return net.eval().to(device)
