"""Convert MediaPipe's BlazeFace TFLite models to the safetensors weights of ``detector.py``.

The two models ship inside the ``mediapipe==0.10.21`` wheel (Apache-2.0):
``mediapipe/modules/face_detection/face_detection_short_range.tflite`` and
``face_detection_full_range_sparse.tflite``. Their weights are float16 (the full-range
1x1 convs also sparse, CSR); this script reads the flatbuffer, follows each conv's weight
through its DEQUANTIZE / DENSIFY ops back to the stored constant, densifies it, keeps it
in float16 (lossless: the networks load it into float32 parameters), transposes TFLite's
layouts (OHWI, 1HWC) to PyTorch's (OIHW, C1HW) and names it after the PyTorch module,
walking the graph in execution order.

It needs neither torch nor mediapipe, only ``tflite`` (the flatbuffer schema), numpy and
safetensors; ``ai-edge-litert`` too for ``--reference``. To redo the conversion::

    python3 -m venv /tmp/blazeface-convert
    /tmp/blazeface-convert/bin/pip install tflite==2.18.0 numpy safetensors ai-edge-litert
    /tmp/blazeface-convert/bin/pip download mediapipe==0.10.21 --no-deps -d /tmp/mp-wheel
    /tmp/blazeface-convert/bin/python models/convert_blazeface.py \\
        --source /tmp/mp-wheel/mediapipe-0.10.21-*.whl --reference tests/data/blazeface_tflite.npz

``--source`` also takes an installed ``mediapipe`` package directory (default: the one
importable by the running interpreter). ``--reference`` runs the TFLite interpreter on a
fixed synthetic input per model and saves the input and its raw outputs, which
``tests/test_detector.py`` compares with the PyTorch networks. Loading the written files
strictly into the networks (the tests do) is the check that every tensor found its module.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import tflite
from safetensors.numpy import save_file

MEDIAPIPE_VERSION = "0.10.21"
MODEL_DIR = "mediapipe/modules/face_detection"
MODELS = {
    "short": "face_detection_short_range.tflite",
    "full": "face_detection_full_range_sparse.tflite",
}
OUT_DIR = Path(__file__).resolve().parent / "weights"

_OPS = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_DTYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16}
_INDEX_VECTORS = {
    tflite.SparseIndexVector.Int32Vector: (tflite.Int32Vector, np.int32),
    tflite.SparseIndexVector.Uint16Vector: (tflite.Uint16Vector, np.uint16),
    tflite.SparseIndexVector.Uint8Vector: (tflite.Uint8Vector, np.uint8),
}


def _block(prefix: str) -> list[str]:
    return [f"{prefix}.{name}" for name in ("dw1", "pw1", "dw2", "pw2")]


def layer_order(variant: str) -> list[str]:
    """PyTorch module names of the convs, in the TFLite graph's execution order."""
    if variant == "short":
        names = ["stem"]
        names += [f"blocks_s8.{i}.{p}" for i in range(11) for p in ("dw", "pw")]
        names += [f"blocks_s16.{i}.{p}" for i in range(5) for p in ("dw", "pw")]
        return names + ["cls_s8", "cls_s16", "reg_s8", "reg_s16"]
    names = ["stem"]
    # The lateral 1x1 conv of each FPN level runs right after its encoder stage.
    laterals = {1: "lateral.2", 2: "lateral.1", 3: "lateral.0"}
    for stage, blocks in enumerate((2, 3, 3, 3, 4)):
        for block in range(blocks):
            names += _block(f"encoder.{stage}.{block}")
        names += [laterals[stage]] if stage in laterals else []
    for step, blocks in enumerate((2, 2, 1)):
        names.append(f"reduce.{step}")
        for block in range(blocks):
            names += _block(f"decoder.{step}.{block}")
    return names + ["cls_head.pw", "cls_head.dw", "reg_head.pw", "reg_head.dw"]


class TFLiteGraph:
    """The ops and constant tensors of a TFLite model's main subgraph."""

    def __init__(self, data: bytes) -> None:
        self.model = tflite.Model.GetRootAsModel(data, 0)
        self.graph = self.model.Subgraphs(0)
        self.ops = []
        self.producer: dict[int, tuple[str, list[int]]] = {}
        for i in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(i)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            name = _OPS[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            inputs = [int(t) for t in op.InputsAsNumpy()]
            self.ops.append((name, inputs))
            for out in op.OutputsAsNumpy():
                self.producer[int(out)] = (name, inputs)

    def constant(self, index: int) -> np.ndarray:
        """A constant tensor in its stored dtype, found through the ops that feed it."""
        while index in self.producer:
            op, inputs = self.producer[index]
            if op not in ("DEQUANTIZE", "DENSIFY"):
                raise ValueError(f"tensor {index} is computed by {op}, not a constant")
            index = inputs[0]
        tensor = self.graph.Tensors(index)
        raw = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        values = np.frombuffer(raw.tobytes(), _DTYPES[tensor.Type()])
        shape = tuple(int(s) for s in tensor.ShapeAsNumpy())
        if tensor.Sparsity() is not None:
            values = _densify(values, shape, tensor.Sparsity())
        return values.reshape(shape)


def _index_vector(union_type: int, table: tflite.Table) -> np.ndarray:
    vector_type, dtype = _INDEX_VECTORS[union_type]
    vector = vector_type()
    vector.Init(table.Bytes, table.Pos)
    return vector.ValuesAsNumpy().astype(np.int64)


def _densify(
    values: np.ndarray, shape: tuple[int, ...], sparsity: tflite.SparsityParameters
) -> np.ndarray:
    """Expand a TFLite sparse tensor whose leading dims are dense and last dim is CSR."""
    dims = sparsity.DimMetadataLength()
    traversal = sparsity.TraversalOrderAsNumpy()
    formats = [sparsity.DimMetadata(d).Format() for d in range(dims)]
    dense, csr = tflite.DimensionType.DENSE, tflite.DimensionType.SPARSE_CSR
    if (
        sparsity.BlockMapLength()
        or list(traversal) != list(range(len(shape)))
        or formats != [dense] * (dims - 1) + [csr]
    ):
        raise ValueError("only row-major sparsity with a CSR last dimension is supported")
    last = sparsity.DimMetadata(dims - 1)
    segments = _index_vector(last.ArraySegmentsType(), last.ArraySegments())
    columns = _index_vector(last.ArrayIndicesType(), last.ArrayIndices())
    rows = np.repeat(np.arange(len(segments) - 1), np.diff(segments))
    out = np.zeros((int(np.prod(shape[:-1])), shape[-1]), values.dtype)
    out[rows, columns] = values
    return out


def convert(data: bytes, variant: str) -> dict[str, np.ndarray]:
    """State dict (PyTorch layouts) of one BlazeFace variant from its TFLite model bytes."""
    graph = TFLiteGraph(data)
    convs = [(op, inputs) for op, inputs in graph.ops if op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    names = layer_order(variant)
    if len(convs) != len(names):
        raise ValueError(f"{variant}: the graph has {len(convs)} convs, expected {len(names)}")
    state = {}
    for name, (op, inputs) in zip(names, convs, strict=True):
        depthwise = name.rsplit(".", 1)[-1].startswith("dw")
        if depthwise != (op == "DEPTHWISE_CONV_2D"):
            raise ValueError(f"{variant}: {name} maps to a {op}")
        kernel = graph.constant(inputs[1])
        # TFLite: OHWI for convs, 1HWC for depthwise; PyTorch: OIHW and C1HW.
        axes = (3, 0, 1, 2) if depthwise else (0, 3, 1, 2)
        state[f"{name}.weight"] = np.ascontiguousarray(kernel.transpose(axes))
        state[f"{name}.bias"] = graph.constant(inputs[2])
    return state


def reference_input(size: int) -> np.ndarray:
    """A fixed synthetic RGB uint8 image, exactly reproducible from integer arithmetic."""
    y, x = np.mgrid[:size, :size]
    checkers = (x // 16 + y // 12) % 2 * 255
    blobs = (x // 4) * (y // 4) % 256
    return np.stack([(x * 5 + y * 3) % 256, checkers, blobs], -1).astype(np.uint8)


def tflite_outputs(data: bytes, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw (regressors, classificators) of the TFLite interpreter for one uint8 image."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    interpreter.set_tensor(
        interpreter.get_input_details()[0]["index"],
        (image[None].astype(np.float32) / 127.5 - 1.0),
    )
    interpreter.invoke()
    outputs = {
        d["shape"][-1]: interpreter.get_tensor(d["index"])[0]
        for d in interpreter.get_output_details()
    }
    return outputs[16], outputs[1][:, 0]


def read_models(source: Path | None) -> dict[str, bytes]:
    """The two .tflite files from a mediapipe wheel or package directory."""
    if source is None:
        spec = importlib.util.find_spec("mediapipe")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("mediapipe is not importable here: pass --source WHEEL_OR_DIR")
        source = Path(spec.submodule_search_locations[0]).parent
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            return {v: wheel.read(f"{MODEL_DIR}/{f}") for v, f in MODELS.items()}
    for folder in (source, source / MODEL_DIR, source.parent / MODEL_DIR):
        if all((folder / f).is_file() for f in MODELS.values()):
            return {v: (folder / f).read_bytes() for v, f in MODELS.items()}
    raise SystemExit(f"no {' / '.join(MODELS.values())} under {source}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="mediapipe wheel (.whl) or package dir")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--reference", type=Path, help="also save TFLite outputs (.npz)")
    args = parser.parse_args()
    models = read_models(args.source)
    reference: dict[str, Any] = {}
    for variant, data in models.items():
        state = convert(data, variant)
        metadata = {
            "source": f"mediapipe=={MEDIAPIPE_VERSION} {MODEL_DIR}/{MODELS[variant]}",
            "source_sha256": hashlib.sha256(data).hexdigest(),
            "license": "Apache-2.0",
        }
        out = args.out_dir / f"blazeface_{variant}.safetensors"
        save_file(state, out, metadata=metadata)
        count = sum(v.size for v in state.values())
        print(f"{variant}: {len(state)} tensors, {count} parameters -> {out}")
        if args.reference:
            image = reference_input(128 if variant == "short" else 192)
            regressors, logits = tflite_outputs(data, image)
            reference[f"{variant}_input"] = image
            reference[f"{variant}_regressors"] = regressors
            reference[f"{variant}_logits"] = logits
    if args.reference:
        np.savez_compressed(args.reference, **reference)
        print(f"TFLite reference outputs -> {args.reference}")


if __name__ == "__main__":
    main()
