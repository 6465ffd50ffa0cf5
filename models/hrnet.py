"""HRNet-128: High-Resolution Networks for 128-point facial landmark heatmaps.

A faithful HRNet (Sun et al., "Deep High-Resolution Representation Learning", 2019) in the
style of timm's ``models/hrnet.py``: the architecture is data (`HRNetConfig` per variant),
blocks are picked by name, and the model is a stem, then four stages that keep a
high-resolution stream and add lower-resolution parallel streams (1, 2, 3, 4 branches) with
repeated multi-scale fusion inside every module, then a heatmap head with one channel per
landmark.

Two variants:

- ``hrnet128_w18``: HRNetV2-W18 (widths 18/36/72/144, basic blocks, the HRNetV2 head that
  concatenates all four streams), 256x256 input, heatmaps at stride 4 (64x64). For GPUs.
- ``hrnet128_lite``: the same structure sized for a 2-core CPU: widths 12/24/48/96, one
  basic block per branch and one module per stage, the Lite-HRNet head on the
  high-resolution stream, 128x128 input and 32x32 heatmaps. Depthwise-separable blocks and
  fusions (``"dwsep"``, ``separable_fusion``, Lite-HRNet's idea) are available to configs but
  measured no faster here.

The input is ``(N, 3, S, S)`` float RGB in [0, 1]; ImageNet normalisation happens inside.
Weights are safetensors, loaded strictly by `load_weights`.

Example:
    >>> import torch
    >>> from facestream.models.hrnet import hrnet128_lite
    >>> model = hrnet128_lite().eval()
    >>> model(torch.rand(2, 3, 128, 128)).shape
    torch.Size([2, 128, 32, 32])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

BlockName = Literal["basic", "bottleneck", "dwsep"]


@dataclass(frozen=True)
class StageConfig:
    """One stage: ``num_modules`` HRNet modules, each with ``num_blocks[i]`` blocks of
    ``block`` on branch i (width ``num_channels[i]``) followed by a multi-scale fusion."""

    num_modules: int
    block: BlockName
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]

    @property
    def num_branches(self) -> int:
        return len(self.num_channels)


@dataclass(frozen=True)
class HRNetConfig:
    """A variant of HRNet-128, the whole architecture as data.

    Attributes:
        name: variant name, also the weights file stem.
        input_size: side S of the square input crop.
        heatmap_stride: input pixels per heatmap pixel (the stem's stride, 4).
        stem: ``"conv"`` (two stride-2 3x3 convolutions, as HRNet) or ``"lite"`` (a stride-2
            3x3 convolution, then a depthwise-separable stride-2 convolution).
        stem_width: channels of the stem.
        stages: four stages with 1, 2, 3 and 4 branches.
        separable_fusion: depthwise-separable convolutions in transitions and fusions.
        head: ``"concat"`` (HRNetV2: upsample every stream, concatenate, 1x1 convs) or
            ``"highres"`` (1x1 convs on the high-resolution stream, which the last fusion
            already fed with every other stream, as Lite-HRNet).
        head_width: channels of the hidden 1x1 convolution of the head.
        num_points: heatmap channels (landmarks).
    """

    name: str
    input_size: int
    heatmap_stride: int
    stem: Literal["conv", "lite"]
    stem_width: int
    stages: tuple[StageConfig, StageConfig, StageConfig, StageConfig]
    separable_fusion: bool
    head: Literal["concat", "highres"]
    head_width: int
    num_points: int = 128

    @property
    def heatmap_size(self) -> int:
        return self.input_size // self.heatmap_stride


CONFIGS: dict[str, HRNetConfig] = {
    "hrnet128_w18": HRNetConfig(
        name="hrnet128_w18",
        input_size=256,
        heatmap_stride=4,
        stem="conv",
        stem_width=64,
        stages=(
            StageConfig(1, "bottleneck", (4,), (64,)),
            StageConfig(1, "basic", (4, 4), (18, 36)),
            StageConfig(4, "basic", (4, 4, 4), (18, 36, 72)),
            StageConfig(3, "basic", (4, 4, 4, 4), (18, 36, 72, 144)),
        ),
        separable_fusion=False,
        head="concat",
        head_width=270,
    ),
    # Measured on a shared 2-core CPU (bench/landmarks.py): plain 3x3 convolutions at these
    # widths ran as fast as or faster than depthwise-separable blocks (PyTorch's depthwise
    # kernels are slow at this size), so the lite variant narrows the widths instead.
    "hrnet128_lite": HRNetConfig(
        name="hrnet128_lite",
        input_size=128,
        heatmap_stride=4,
        stem="conv",
        stem_width=12,
        stages=(
            StageConfig(1, "basic", (1,), (12,)),
            StageConfig(1, "basic", (1, 1), (12, 24)),
            StageConfig(1, "basic", (1, 1, 1), (12, 24, 48)),
            StageConfig(1, "basic", (1, 1, 1, 1), (12, 24, 48, 96)),
        ),
        separable_fusion=False,
        head="highres",
        head_width=64,
    ),
}


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    )


def _down(c_in: int, c_out: int, separable: bool) -> nn.Sequential:
    """A stride-2 3x3 convolution + BN (depthwise + pointwise when separable)."""
    if separable:
        return nn.Sequential(*_conv_bn(c_in, c_in, 3, 2, groups=c_in), *_conv_bn(c_in, c_out, 1))
    return _conv_bn(c_in, c_out, 3, 2)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet basic block)."""

    expansion = 1

    def __init__(self, c_in: int, width: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn(c_in, width, 3)
        self.conv2 = _conv_bn(width, width, 3)
        self.shortcut = _conv_bn(c_in, width, 1) if c_in != width else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(y + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), with a residual connection."""

    expansion = 4

    def __init__(self, c_in: int, width: int) -> None:
        super().__init__()
        c_out = width * self.expansion
        self.conv1 = _conv_bn(c_in, width, 1)
        self.conv2 = _conv_bn(width, width, 3)
        self.conv3 = _conv_bn(width, c_out, 1)
        self.shortcut = _conv_bn(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))
        return F.relu(y + self.shortcut(x))


class DWSepBlock(nn.Module):
    """The basic block with each 3x3 convolution made depthwise-separable (Lite-HRNet)."""

    expansion = 1

    def __init__(self, c_in: int, width: int) -> None:
        super().__init__()
        self.dw1 = _conv_bn(c_in, c_in, 3, groups=c_in)
        self.pw1 = _conv_bn(c_in, width, 1)
        self.dw2 = _conv_bn(width, width, 3, groups=width)
        self.pw2 = _conv_bn(width, width, 1)
        self.shortcut = _conv_bn(c_in, width, 1) if c_in != width else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw2(self.dw2(F.relu(self.pw1(self.dw1(x)))))
        return F.relu(y + self.shortcut(x))


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck] | type[DWSepBlock]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "dwsep": DWSepBlock,
}


class HRModule(nn.Module):
    """Parallel branches of blocks, then fusion: every output stream is the sum of every
    input stream brought to its resolution (1x1 conv + upsampling from lower resolutions,
    strided 3x3 convs from higher ones)."""

    def __init__(
        self, stage: StageConfig, c_in: tuple[int, ...], separable: bool, num_outputs: int
    ) -> None:
        super().__init__()
        block = BLOCKS[stage.block]
        self.branches = nn.ModuleList()
        for i, width in enumerate(stage.num_channels):
            layers, c = [], c_in[i]
            for _ in range(stage.num_blocks[i]):
                layers.append(block(c, width))
                c = width * block.expansion
            self.branches.append(nn.Sequential(*layers))
        widths = [w * block.expansion for w in stage.num_channels]
        # HRNet's multi_scale_output: the last module before a high-resolution head only
        # fuses into the streams the head reads.
        self.out_channels = tuple(widths[:num_outputs])
        self.fuse = nn.ModuleList()
        for i, w_out in enumerate(self.out_channels):
            paths = nn.ModuleList()
            for j, w_in in enumerate(widths):
                if j == i:
                    paths.append(nn.Identity())
                elif j > i:
                    paths.append(_conv_bn(w_in, w_out, 1))
                else:  # (i - j) stride-2 convolutions, ReLU between them
                    steps: list[nn.Module] = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        steps.append(_down(w_in, w_out if last else w_in, separable))
                        if not last:
                            steps.append(nn.ReLU())
                    paths.append(nn.Sequential(*steps))
            self.fuse.append(paths)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        out = []
        for i, paths in enumerate(self.fuse):
            y = xs[i]
            path: nn.Module
            for j, path in enumerate(paths):  # type: ignore[arg-type]  # an nn.ModuleList
                if j == i:
                    continue
                z: torch.Tensor = path(xs[j])
                if j > i:
                    z = F.interpolate(z, size=xs[i].shape[-2:], mode="nearest")
                y = y + z
            out.append(F.relu(y))
        return out


class Transition(nn.Module):
    """Between stages: adapt the widths of existing streams and add one stream at half
    the resolution of the lowest (HRNet's transition layers)."""

    def __init__(self, c_in: tuple[int, ...], c_out: tuple[int, ...], separable: bool) -> None:
        super().__init__()
        self.paths = nn.ModuleList()
        for i, w in enumerate(c_out):
            if i < len(c_in):
                same = c_in[i] == w
                self.paths.append(
                    nn.Identity() if same else nn.Sequential(_conv_bn(c_in[i], w, 3), nn.ReLU())
                )
            else:
                self.paths.append(nn.Sequential(_down(c_in[-1], w, separable), nn.ReLU()))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [path(xs[min(i, len(xs) - 1)]) for i, path in enumerate(self.paths)]


class HRNet(nn.Module):
    """HRNet-128 built from an `HRNetConfig`.

    Example:
        >>> net = HRNet(CONFIGS["hrnet128_lite"])
        >>> net.forward_features(torch.rand(1, 3, 128, 128))[0].shape
        torch.Size([1, 12, 32, 32])
    """

    def __init__(self, config: HRNetConfig) -> None:
        super().__init__()
        if len(config.stages) != 4 or [s.num_branches for s in config.stages] != [1, 2, 3, 4]:
            raise ValueError("HRNet needs four stages with 1, 2, 3 and 4 branches")
        if config.input_size % (config.heatmap_stride * 8):
            raise ValueError("input_size must be a multiple of 8 * heatmap_stride")
        self.config = config
        mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)
        w = config.stem_width
        if config.stem == "conv":
            self.stem = nn.Sequential(
                _conv_bn(3, w, 3, 2), nn.ReLU(), _conv_bn(w, w, 3, 2), nn.ReLU()
            )
        else:
            self.stem = nn.Sequential(_conv_bn(3, w, 3, 2), nn.ReLU(), _down(w, w, True), nn.ReLU())
        channels: tuple[int, ...] = (w,)
        self.transitions = nn.ModuleList()
        self.stages = nn.ModuleList()
        for k, stage in enumerate(config.stages):
            if k > 0:
                self.transitions.append(
                    Transition(channels, stage.num_channels, config.separable_fusion)
                )
                channels = stage.num_channels
            modules = []
            for m in range(stage.num_modules):
                last = k == 3 and m == stage.num_modules - 1
                outputs = 1 if last and config.head == "highres" else stage.num_branches
                module = HRModule(stage, channels, config.separable_fusion, outputs)
                modules.append(module)
                channels = module.out_channels
            # nn.Sequential passes the list of streams from module to module.
            self.stages.append(nn.Sequential(*modules))
        self.feature_channels = channels
        c_head = sum(channels) if config.head == "concat" else channels[0]
        self.head = nn.Sequential(
            _conv_bn(c_head, config.head_width, 1),
            nn.ReLU(),
            nn.Conv2d(config.head_width, config.num_points, 1),
        )

    def _check_input(self, x: torch.Tensor) -> None:
        s = self.config.input_size
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != s or x.shape[3] != s:
            raise ValueError(
                f"{self.config.name} expects input (N, 3, {s}, {s}), got {tuple(x.shape)}"
            )

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Multi-resolution features: streams at strides 4, 8, 16, 32 of the input (only the
        stride-4 stream for a ``"highres"`` head, which is all it reads)."""
        self._check_input(x)
        x = self.stem((x - self.mean) / self.std)
        xs = [x]
        for k, stage in enumerate(self.stages):
            if k > 0:
                xs = self.transitions[k - 1](xs)
            xs = stage(xs)
        return xs

    def forward_head(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Heatmaps ``(N, num_points, S / stride, S / stride)`` from the four streams."""
        if len(xs) != len(self.feature_channels):
            raise ValueError(
                f"forward_head expects {len(self.feature_channels)} feature streams, got {len(xs)}"
            )
        if self.config.head == "concat":
            size = xs[0].shape[-2:]
            up = [xs[0]] + [
                F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in xs[1:]
            ]
            x = torch.cat(up, 1)
        else:
            x = xs[0]
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Heatmaps ``(N, num_points, S / stride, S / stride)`` of an RGB batch in [0, 1]."""
        return self.forward_head(self.forward_features(x))


class WeightsError(RuntimeError):
    """A weights file is missing, truncated or does not match the model."""


def save_weights(model: HRNet, path: str | Path) -> None:
    """Save ``model``'s parameters and buffers as safetensors, with its config as metadata."""
    metadata = {"variant": model.config.name, "config": repr(asdict(model.config))}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=metadata)


def load_weights(model: HRNet, path: str | Path) -> None:
    """Load safetensors weights into ``model`` strictly.

    Raises:
        WeightsError: one sentence naming the file and what is wrong (missing, unreadable or
            truncated, another variant, missing/unexpected keys, wrong shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(
            f"weights file {path} is not a readable safetensors file (truncated?): {e}"
        ) from None
    variant = metadata.get("variant")
    if variant is not None and variant != model.config.name:
        raise WeightsError(f"weights file {path} holds {variant} weights, not {model.config.name}")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"weights file {path} does not match {model.config.name}: "
            f"{len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})"
        )
    wrong = [k for k, v in state.items() if v.shape != expected[k].shape]
    if wrong:
        k = wrong[0]
        raise WeightsError(
            f"weights file {path} does not match {model.config.name}: {len(wrong)} tensors have "
            f"the wrong shape, e.g. {k} is {tuple(state[k].shape)}, "
            f"expected {tuple(expected[k].shape)}"
        )
    model.load_state_dict(state, strict=True)


def default_weights_path(name: str) -> Path:
    """Where the weights of a variant are looked up: ``models/weights/<name>.safetensors``."""
    return WEIGHTS_DIR / f"{name}.safetensors"


def weights_path(name: str, weights: str | Path) -> Path:
    """The file ``weights`` names for variant ``name``: "default" is the shipped file."""
    return default_weights_path(name) if weights == "default" else Path(weights)


def create_model(name: str, weights: str | Path | None = None) -> HRNet:
    """Build a variant by name; ``weights`` is None (random init), "default" (the shipped
    file) or a path to a safetensors file."""
    if name not in CONFIGS:
        raise ValueError(f"unknown HRNet-128 variant {name!r}; known: {sorted(CONFIGS)}")
    model = HRNet(CONFIGS[name])
    if weights is None:
        return model
    path = weights_path(name, weights)
    if weights == "default" and not path.is_file():
        raise WeightsError(
            f"no trained weights are shipped for {name} yet: {path} does not exist "
            "(train them with the training pipeline, or pass weights=None for random init)"
        )
    load_weights(model, path)
    return model


def hrnet128_lite(weights: str | Path | None = None) -> HRNet:
    """HRNet-128 lite: 128x128 input, 32x32 heatmaps, sized for a 2-core CPU.

    Example:
        >>> hrnet128_lite().config.input_size
        128
    """
    return create_model("hrnet128_lite", weights)


def hrnet128_w18(weights: str | Path | None = None) -> HRNet:
    """HRNet-128 W18 (HRNetV2-W18 widths): 256x256 input, 64x64 heatmaps, for GPUs.

    Example:
        >>> hrnet128_w18().config.heatmap_size
        64
    """
    return create_model("hrnet128_w18", weights)
