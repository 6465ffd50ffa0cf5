"""BlazeFace face detector: MediaPipe's short- and full-range models in PyTorch.

Two variants, both with six keypoints per face (MediaPipe's order: right eye, left eye, nose
tip, mouth centre, right ear tragion, left ear tragion; "right" is the person's right):

- ``short``: 128x128 input, for faces within about 2 m of the camera (webcam, selfie).
- ``full``: 192x192 input, an FPN-style network for faces up to about 5 m away.

``AnyRangeDetector`` runs the full range and, on an image where it finds nothing, the short
range: the full-range model misses faces that fill most of the image (a close-up selfie, a
tight photo crop), which the short-range one finds. The engine and photos use it.
``frame_tiles`` and ``detect_in_tile`` search a large frame in overlapping square tiles, for
faces too small for the whole frame letterboxed into 192 px (the engine, one tile a frame).

The weights are converted from the TFLite files in the ``mediapipe==0.10.21`` wheel by
``models/convert_blazeface.py`` (Apache-2.0, see ``weights/LICENSE-blazeface.md``). Pre- and
post-processing follow MediaPipe's face detection graph so the results match its own
detector: the frame is letterboxed into the square input (OpenCV bilinear warp, black
borders, values in [-1, 1]), SSD anchors are generated as MediaPipe's ``SsdAnchorsCalculator``
does, boxes and keypoints are decoded relative to the anchors, and overlapping detections
are blended by weighted non-maximum suppression (IoU > 0.3).

Example:
    >>> import numpy as np
    >>> from facestream.models.detector import FaceDetector
    >>> detector = FaceDetector("short")
    >>> detector.detect(np.zeros((480, 640, 3), np.uint8))
    []
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

KEYPOINT_NAMES = (
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_center",
    "right_ear_tragion",
    "left_ear_tragion",
)


@dataclass(frozen=True)
class BlazeFaceConfig:
    """One detector variant: network input size, anchor layout, score threshold, weights.

    The SSD anchor options and default score thresholds are those of MediaPipe's face
    detection graphs (the 0.10.21 Python solution keeps 0.5 and 0.6 whatever its
    ``min_detection_confidence`` says). Both variants use fixed-size anchors, so an anchor
    is only a centre and offsets are scaled by the input size alone.
    """

    variant: str
    input_size: int
    anchor_strides: tuple[int, ...]
    interpolated_scale_aspect_ratio: float
    min_score: float
    weights_file: str
    anchor_offset: float = 0.5
    nms_iou_threshold: float = 0.3
    score_clipping: float = 100.0


CONFIGS = {
    "short": BlazeFaceConfig(
        "short", 128, (8, 16, 16, 16), 1.0, 0.5, "blazeface_short.safetensors"
    ),
    "full": BlazeFaceConfig("full", 192, (4,), 0.0, 0.6, "blazeface_full.safetensors"),
}


@dataclass(frozen=True)
class Detection:
    """One detected face in frame pixels.

    Attributes:
        box: float32 ``(4,)``: x0, y0, x1, y1.
        keypoints: float32 ``(6, 2)``: x, y in the order of ``KEYPOINT_NAMES``.
        score: detection confidence in [0, 1].
    """

    box: np.ndarray
    keypoints: np.ndarray
    score: float


# ----------------------------------------------------------------------------- networks


def _check_input(x: torch.Tensor, size: int) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != size or x.shape[3] != size:
        raise ValueError(f"expected input of shape (N, 3, {size}, {size}), got {tuple(x.shape)}")


def _cells_last(x: torch.Tensor, values: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, H * W * C / values, values): TFLite's NHWC reshape order."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, values)


class BlazeBlock(nn.Module):
    """Depthwise 3x3 then pointwise conv with a residual; stride 2 max-pools the shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        # TF 'SAME' padding of a stride-2 3x3 conv on an even size pads bottom/right only.
        self.dw = nn.Conv2d(c_in, c_in, 3, stride, padding=1 if stride == 1 else 0, groups=c_in)
        self.pw = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = F.max_pool2d(x, 2) if self.stride == 2 else x
        if self.stride == 2:
            x = F.pad(x, (0, 1, 0, 1))
        out = self.pw(self.dw(x))
        # TFLite zero-pads the shortcut to c_out channels: add it to the first c_in only.
        out[:, : shortcut.shape[1]] += shortcut
        return F.relu_(out)


# (c_in, c_out, stride) of the short-range network's blocks, split where the stride-8
# feature map (16x16) feeds its detection heads.
_SHORT_BLOCKS_S8 = (
    (24, 24, 1),
    (24, 28, 1),
    (28, 32, 2),
    (32, 36, 1),
    (36, 42, 1),
    (42, 48, 2),
    (48, 56, 1),
    (56, 64, 1),
    (64, 72, 1),
    (72, 80, 1),
    (80, 88, 1),
)
_SHORT_BLOCKS_S16 = ((88, 96, 2), (96, 96, 1), (96, 96, 1), (96, 96, 1), (96, 96, 1))


class BlazeFaceShortNet(nn.Module):
    """The short-range BlazeFace network: 128x128 input, 896 anchors (16x16x2 + 8x8x6).

    ``forward`` takes ``(N, 3, 128, 128)`` RGB in [-1, 1] and returns the raw regressors
    ``(N, 896, 16)`` (box centre, box size, 6 keypoints, as x, y pairs in input pixels
    relative to the anchor) and the score logits ``(N, 896)``.
    """

    input_size = 128

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 5, stride=2)
        self.blocks_s8 = nn.Sequential(*(BlazeBlock(*spec) for spec in _SHORT_BLOCKS_S8))
        self.blocks_s16 = nn.Sequential(*(BlazeBlock(*spec) for spec in _SHORT_BLOCKS_S16))
        self.cls_s8 = nn.Conv2d(88, 2, 1)
        self.cls_s16 = nn.Conv2d(96, 6, 1)
        self.reg_s8 = nn.Conv2d(88, 32, 1)
        self.reg_s16 = nn.Conv2d(96, 96, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, self.input_size)
        # TF 'SAME' for a stride-2 5x5 conv on 128 pads 1 before and 2 after.
        x = F.relu(self.stem(F.pad(x, (1, 2, 1, 2))))
        s8 = self.blocks_s8(x)
        s16 = self.blocks_s16(s8)
        logits = torch.cat([_cells_last(self.cls_s8(s8), 1), _cells_last(self.cls_s16(s16), 1)], 1)
        regressors = torch.cat(
            [_cells_last(self.reg_s8(s8), 16), _cells_last(self.reg_s16(s16), 16)], 1
        )
        return regressors, logits[..., 0]


class BottleneckBlock(nn.Module):
    """dw 3x3 -> 1x1 (ReLU) -> dw 3x3 -> 1x1, plus the input when shapes allow, then ReLU."""

    def __init__(self, c_in: int, mid: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.dw1 = nn.Conv2d(c_in, c_in, 3, stride, padding=1, groups=c_in)
        self.pw1 = nn.Conv2d(c_in, mid, 1)
        self.dw2 = nn.Conv2d(mid, mid, 3, padding=1, groups=mid)
        self.pw2 = nn.Conv2d(mid, c_out, 1)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pw2(self.dw2(F.relu_(self.pw1(self.dw1(x)))))
        if self.residual:
            out += x
        return F.relu_(out)


def _depth_to_space(x: torch.Tensor, block: int) -> torch.Tensor:
    """TensorFlow's DEPTH_TO_SPACE (depth-column-row order) on an NCHW tensor."""
    n, c, h, w = x.shape
    x = x.view(n, block, block, c // block**2, h, w)
    return x.permute(0, 3, 4, 1, 5, 2).reshape(n, c // block**2, h * block, w * block)


class StridedHead(nn.Module):
    """1x1 conv, depthwise 3x3 at stride 2, then depth-to-space back to the input grid."""

    def __init__(self, c_in: int, values: int) -> None:
        super().__init__()
        self.pw = nn.Conv2d(c_in, 4 * values, 1)
        self.dw = nn.Conv2d(4 * values, 4 * values, 3, stride=2, padding=1, groups=4 * values)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _depth_to_space(self.dw(self.pw(x)), 2)


# Encoder stages at 96, 48, 24, 12 and 6 px as (blocks, c_in, mid, c_out); every stage
# but the first starts with a stride-2 block.
_FULL_ENCODER = (
    (2, 32, 8, 32),
    (3, 32, 16, 64),
    (3, 64, 32, 128),
    (3, 128, 48, 192),
    (4, 192, 96, 384),
)
# Top-down decoder steps at 12, 24 and 48 px as (blocks, channels, mid).
_FULL_DECODER = ((2, 96, 48), (2, 64, 32), (1, 48, 24))


class BlazeFaceFullNet(nn.Module):
    """The full-range BlazeFace network: 192x192 input, 2304 anchors (48x48x1).

    An encoder of bottleneck blocks down to 6x6, a top-down path with lateral connections
    back to 48x48, and strided heads. ``forward`` takes ``(N, 3, 192, 192)`` RGB in [-1, 1]
    and returns the raw regressors ``(N, 2304, 16)`` and score logits ``(N, 2304)``.
    """

    input_size = 192

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, stride=2, padding=1)
        self.encoder = nn.ModuleList()
        for index, (blocks, c_in, mid, c_out) in enumerate(_FULL_ENCODER):
            first = BottleneckBlock(c_in, mid, c_out, stride=1 if index == 0 else 2)
            rest = (BottleneckBlock(c_out, mid, c_out) for _ in range(blocks - 1))
            self.encoder.append(nn.Sequential(first, *rest))
        skip_channels = [c_out for *_, c_out in _FULL_ENCODER[1:-1]][::-1]
        top_channels = [_FULL_ENCODER[-1][-1]] + [c for _, c, _ in _FULL_DECODER[:-1]]
        self.reduce = nn.ModuleList(
            nn.Conv2d(c_in, c, 1)
            for c_in, (_, c, _) in zip(top_channels, _FULL_DECODER, strict=True)
        )
        self.lateral = nn.ModuleList(
            nn.Conv2d(c_in, c, 1)
            for c_in, (_, c, _) in zip(skip_channels, _FULL_DECODER, strict=True)
        )
        self.decoder = nn.ModuleList(
            nn.Sequential(*(BottleneckBlock(c, mid, c) for _ in range(blocks)))
            for blocks, c, mid in _FULL_DECODER
        )
        self.cls_head = StridedHead(_FULL_DECODER[-1][1], 1)
        self.reg_head = StridedHead(_FULL_DECODER[-1][1], 16)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, self.input_size)
        x = F.relu(self.stem(x))
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        # Top-down from 6 px: the lateral skips are the encoder outputs at 12, 24, 48 px.
        for reduce, lateral, decoder, skip in zip(
            self.reduce, self.lateral, self.decoder, reversed(skips[1:-1]), strict=True
        ):
            up = F.interpolate(F.relu(reduce(x)), size=skip.shape[-2:], mode="bilinear")
            x = decoder(F.relu(lateral(skip)) + up)
        regressors = _cells_last(self.reg_head(x), 16)
        logits = self.cls_head(x).flatten(1)
        return regressors, logits


_NETS: dict[str, type[nn.Module]] = {"short": BlazeFaceShortNet, "full": BlazeFaceFullNet}


def _config(variant: str) -> BlazeFaceConfig:
    if variant not in CONFIGS:
        raise ValueError(f"unknown BlazeFace variant {variant!r}; choose one of {sorted(CONFIGS)}")
    return CONFIGS[variant]


def load_weights(net: nn.Module, path: str | Path) -> None:
    """Load a safetensors file into ``net`` strictly, with one clear error when it cannot.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is corrupt or truncated, or its tensors do not match ``net``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"BlazeFace weights not found at {path}; recreate them with models/convert_blazeface.py"
        )
    try:
        state = load_file(path)
    except (SafetensorError, OSError) as error:
        raise ValueError(
            f"BlazeFace weights file {path} is corrupt or truncated ({error})"
        ) from None
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(
        k for k in set(state) & set(expected) if state[k].shape != expected[k].shape
    )
    if missing or unexpected or wrong_shape:
        raise ValueError(
            f"BlazeFace weights file {path} does not match {type(net).__name__}: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong_shape[:3]}"
        )
    net.load_state_dict(state, strict=True)


def blazeface(variant: str = "short", weights: str | Path | None = "default") -> nn.Module:
    """Build a BlazeFace network.

    Args:
        variant: ``"short"`` or ``"full"``.
        weights: ``"default"`` for the shipped converted weights, a safetensors path, or
            ``None`` for random initialisation.

    Example:
        >>> net = blazeface("full", weights=None)
        >>> regressors, logits = net(torch.zeros(1, 3, 192, 192))
        >>> regressors.shape, logits.shape
        (torch.Size([1, 2304, 16]), torch.Size([1, 2304]))
    """
    config = _config(variant)
    net = _NETS[variant]()
    if weights is not None:
        load_weights(net, WEIGHTS_DIR / config.weights_file if weights == "default" else weights)
    return net.eval()


# ------------------------------------------------------------------------ pre/post-processing


def ssd_anchors(config: BlazeFaceConfig) -> np.ndarray:
    """Anchor centres ``(A, 2)`` as x, y in [0, 1], in the network's output order.

    As MediaPipe's ``SsdAnchorsCalculator``: consecutive layers with the same stride share
    one grid, each layer adds one anchor per cell (aspect ratio 1) plus one more when an
    interpolated scale is used; anchors are ordered by row, column, then anchor.
    """
    centres = []
    for stride, layers in itertools.groupby(config.anchor_strides):
        per_cell = len(list(layers)) * (2 if config.interpolated_scale_aspect_ratio > 0 else 1)
        cells = math.ceil(config.input_size / stride)
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = (np.stack([xs, ys], -1).reshape(-1, 2) + config.anchor_offset) / cells
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode(
    regressors: torch.Tensor, anchors: torch.Tensor, input_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode raw regressors ``(..., A, 16)`` against anchor centres ``(A, 2)``.

    Returns boxes ``(..., A, 4)`` as x0, y0, x1, y1 and keypoints ``(..., A, 6, 2)``, both in
    input-relative coordinates (0..1 spans the letterboxed square).
    """
    values = regressors.unflatten(-1, (8, 2)) / input_size
    centre = values[..., 0, :] + anchors
    half = values[..., 1, :] / 2
    boxes = torch.cat([centre - half, centre + half], -1)
    keypoints = values[..., 2:, :] + anchors[:, None, :]
    return boxes, keypoints


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``(K, 4)`` and ``(M, 4)`` (x0, y0, x1, y1) -> ``(K, M)``."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression.

    The best remaining detection gathers every remaining one whose IoU with it exceeds
    ``iou_threshold``; the cluster's boxes and keypoints are averaged with the scores as
    weights and the result keeps the best score. One iteration per output face, each one
    vectorised over the candidates.

    Args:
        boxes: ``(K, 4)`` x0, y0, x1, y1.
        keypoints: ``(K, P, 2)``.
        scores: ``(K,)``.
        iou_threshold: overlap above which a detection joins a cluster.

    Returns:
        boxes ``(F, 4)``, keypoints ``(F, P, 2)`` and scores ``(F,)``, best first.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    iou = box_iou(boxes, boxes)
    remaining = np.ones(len(scores), bool)
    out_boxes, out_keypoints, out_scores = [], [], []
    while remaining.any():
        best = int(np.argmax(remaining))
        cluster = remaining & (iou[best] > iou_threshold)
        cluster[best] = True
        weights = scores[cluster] / scores[cluster].sum()
        out_boxes.append(weights @ boxes[cluster])
        out_keypoints.append(np.tensordot(weights, keypoints[cluster], axes=1))
        out_scores.append(scores[best])
        remaining &= ~cluster
    points = keypoints.shape[1:]
    return (
        np.array(out_boxes, np.float32).reshape(-1, 4),
        np.array(out_keypoints, np.float32).reshape(-1, *points),
        np.array(out_scores, np.float32),
    )


@dataclass(frozen=True)
class Letterbox:
    """Where the square network input lies in the frame: ``frame = origin + input * scale``.

    ``input`` is in input pixels (0..size); ``scale`` is frame pixels per input pixel.
    """

    origin: np.ndarray
    scale: float

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Map input-pixel points ``(..., 2)`` to frame pixels."""
        return (self.origin + points * self.scale).astype(np.float32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Fit a frame into a ``size`` x ``size`` square keeping its aspect, black borders.

    Reproduces MediaPipe's CPU ``ImageToTensorCalculator``: the frame is centred in a
    square of side max(H, W) and warped bilinearly (OpenCV, pixel indices as coordinates).

    Returns:
        the square ``uint8`` image and the ``Letterbox`` mapping back to the frame.
    """
    height, width = image.shape[:2]
    side = max(height, width)
    origin = np.array([(width - side) / 2, (height - side) / 2])
    scale = side / size
    to_input = np.array([[1 / scale, 0, -origin[0] / scale], [0, 1 / scale, -origin[1] / scale]])
    square = cv2.warpAffine(
        image, to_input, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return square, Letterbox(origin, scale)


def _check_image(image: object) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("the detector takes an RGB image as a numpy uint8 array")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) == 0:
        raise ValueError(f"the detector takes an (H, W, 3) RGB image, got shape {image.shape}")
    return image


class FaceDetector:
    """Find faces with BlazeFace: boxes, six keypoints and a score per face, in frame pixels.

    Args:
        variant: ``"short"`` (faces near the camera, 128 px input) or ``"full"`` (faces up
            to about 5 m, 192 px input).
        device: torch device for the network.
        min_score: detections below this confidence are dropped before NMS; ``None`` for
            MediaPipe's threshold of the variant (0.5 short, 0.6 full).
        weights: safetensors path, or ``"default"`` for the shipped converted weights.

    Example:
        >>> from skimage.data import astronaut
        >>> faces = FaceDetector("short").detect(astronaut())
        >>> len(faces), faces[0].keypoints.shape
        (1, (6, 2))
    """

    def __init__(
        self,
        variant: str = "short",
        device: str | torch.device = "cpu",
        min_score: float | None = None,
        weights: str | Path = "default",
    ) -> None:
        self.config = _config(variant)
        self.device = torch.device(device)
        self.min_score = self.config.min_score if min_score is None else min_score
        # Channels-last: the frames arrive as NHWC already, and its convs run ~1.5x faster.
        self.net = blazeface(variant, weights).to(self.device)
        self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.anchors = torch.from_numpy(ssd_anchors(self.config)).to(self.device)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detect faces in one RGB ``uint8`` ``(H, W, 3)`` frame, best score first."""
        return self.detect_batch([image])[0]

    @torch.inference_mode()
    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detect faces in several frames (any sizes) with one network call."""
        if not images:
            return []
        size = self.config.input_size
        squares, letterboxes = zip(
            *(letterbox(_check_image(im), size) for im in images), strict=True
        )
        batch = torch.from_numpy(np.stack(squares)).to(self.device)
        batch = batch.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # NCHW view, NHWC memory
        regressors, logits = self.net(batch)
        clip = self.config.score_clipping
        scores = torch.sigmoid(logits.clamp(-clip, clip))
        boxes, keypoints = decode(regressors, self.anchors, size)
        # MediaPipe drops boxes decoded with a negative width or height.
        keep = (scores >= self.min_score) & (boxes[..., 2:] >= boxes[..., :2]).all(-1)
        results = []
        for i, box in enumerate(letterboxes):
            kept = keep[i]
            merged = weighted_nms(
                boxes[i][kept].cpu().numpy(),
                keypoints[i][kept].cpu().numpy(),
                scores[i][kept].cpu().numpy(),
                self.config.nms_iou_threshold,
            )
            results.append(
                [
                    Detection(
                        box=box.to_frame(b.reshape(2, 2) * size).reshape(4),
                        keypoints=box.to_frame(k * size),
                        score=float(s),
                    )
                    for b, k, s in zip(*merged, strict=True)
                ]
            )
        return results


class AnyRangeDetector:
    """BlazeFace full range, then short range on an image where the full range finds no face.

    The full-range model finds faces from a few pixels to about half the image wide, but
    misses faces that fill most of it: 5 of the 168 faces300w eval crops (faces about half
    the 384 px crop wide), a webcam close-up, a selfie used as a source. The short-range
    model finds those. It runs only when the full range came back empty, so frames with a
    face cost one network call as before.

    Example:
        >>> from skimage.data import astronaut
        >>> len(AnyRangeDetector().detect(astronaut()[80:180, 178:273]))  # face fills it
        1
    """

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.full = FaceDetector("full", device)
        self.short = FaceDetector("short", device)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detect faces in one RGB ``uint8`` ``(H, W, 3)`` frame, best score first."""
        return self.full.detect(image) or self.short.detect(image)


# ----------------------------------------------------------------------------- tiles

TILE_MIN_LONG_SIDE = 1600
"""Frames whose long side is at least this many pixels are also searched in tiles.

The full-range model finds faces down to about 3.5 px between the eye centres of its
192 px input, i.e. about long side / 55 in frame pixels: 23 px at 1280, 35 px at 1920, where
faces 35-45 px between the outer eye corners of a 1080p crowd were missed. Below 1600 px the
whole frame already reaches the faces worth swapping (a smaller face swaps as a smear)."""

TILE_MAX_SIDE = 1080
"""Tiles are at most this wide: the detector then sees a tile at 1080 / 192 = 5.6 frame
pixels per input pixel, and finds faces down to about 20 px between the eye centres."""

TILE_MIN_OVERLAP = 0.2
"""Neighbouring tiles overlap by at least this fraction of their side, so that any face up
to about that wide lies whole in one tile (larger ones the whole-frame pass finds)."""


def frame_tiles(
    height: int,
    width: int,
    min_long_side: int = TILE_MIN_LONG_SIDE,
    max_side: int = TILE_MAX_SIDE,
) -> list[tuple[int, int, int]]:
    """Square tiles ``(x0, y0, side)`` covering a large frame, for finding its small faces.

    Each tile's side is the frame's short side, at most ``max_side``, and neighbouring
    tiles overlap by at least `TILE_MIN_OVERLAP` of it: a 1920x1080 frame gives two tiles
    of 1080 px, each seen by the detector at 1.8 times the whole frame's resolution.
    Frames with a long side under ``min_long_side`` get none.

    Example:
        >>> frame_tiles(1080, 1920)
        [(0, 0, 1080), (840, 0, 1080)]
        >>> frame_tiles(720, 1280)
        []
    """
    if max(height, width) < min_long_side:
        return []
    side = min(height, width, max_side)
    overlap = math.ceil(TILE_MIN_OVERLAP * side)

    def starts(length: int) -> list[int]:
        count = max(1, math.ceil((length - overlap) / (side - overlap)))
        return np.linspace(0, length - side, count).round().astype(int).tolist()

    return [(x, y, side) for y in starts(height) for x in starts(width)]


def detect_in_tile(
    detect: Callable[[np.ndarray], Sequence[object]],
    image: np.ndarray,
    tile: tuple[int, int, int],
) -> list[Detection]:
    """Faces ``detect`` finds in one square tile of ``image``, in frame pixels.

    A face cut by one of the tile's inner edges (an edge that is not the frame's) is left
    out: its box and keypoints are those of a part of a face; the neighbouring tile, which
    the overlap gives the whole face, or the whole-frame pass finds it.

    Args:
        detect: a detector, frame -> detections with ``box``, ``keypoints``, ``score``
            (e.g. `FaceDetector.detect`).
        image: the whole RGB ``uint8`` ``(H, W, 3)`` frame.
        tile: ``(x0, y0, side)``, e.g. from `frame_tiles`.
    """
    x0, y0, side = tile
    height, width = image.shape[:2]
    crop = np.ascontiguousarray(image[y0 : y0 + side, x0 : x0 + side])
    x1, y1 = x0 + crop.shape[1], y0 + crop.shape[0]
    # Inner edges as (lower, upper) limits; the frame's own edges do not cut anything.
    lower = np.array([x0 if x0 > 0 else -np.inf, y0 if y0 > 0 else -np.inf]) + TILE_EDGE
    upper = np.array([x1 if x1 < width else np.inf, y1 if y1 < height else np.inf]) - TILE_EDGE
    offset = np.array([x0, y0], np.float32)
    found = []
    for d in detect(crop):
        box = np.asarray(d.box, np.float32).reshape(2, 2) + offset  # type: ignore[attr-defined]
        if (box[0] < lower).any() or (box[1] > upper).any():
            continue
        keypoints = np.asarray(d.keypoints, np.float32) + offset  # type: ignore[attr-defined]
        found.append(Detection(box.reshape(4), keypoints, float(d.score)))  # type: ignore[attr-defined]
    return found


TILE_EDGE = 2.0
"""A tile detection whose box comes this close (pixels) to an inner edge is cut by it."""
