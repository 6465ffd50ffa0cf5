"""BlazeFace detector: anchors, decoding, NMS, letterbox, weights, and real faces."""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from facestream.models.detector import (
    CONFIGS,
    WEIGHTS_DIR,
    AnyRangeDetector,
    BlazeFaceFullNet,
    Detection,
    FaceDetector,
    blazeface,
    box_iou,
    decode,
    detect_in_tile,
    frame_tiles,
    letterbox,
    load_weights,
    ssd_anchors,
    weighted_nms,
)

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("short", "full")


@pytest.fixture(scope="module", params=VARIANTS)
def detector(request: pytest.FixtureRequest) -> FaceDetector:
    return FaceDetector(request.param)


def test_anchor_count_and_order() -> None:
    short, full = ssd_anchors(CONFIGS["short"]), ssd_anchors(CONFIGS["full"])
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # Short range: 16x16 cells with 2 anchors each, then 8x8 cells with 6 each.
    np.testing.assert_allclose(short[0], short[1])
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(short[2], [1.5 / 16, 0.5 / 16])  # x runs fastest
    np.testing.assert_allclose(short[512:518], np.full((6, 2), 0.5 / 8))
    np.testing.assert_allclose(short[-1], [7.5 / 8, 7.5 / 8])
    # Full range: one anchor per 4-px cell of a 48x48 grid.
    np.testing.assert_allclose(
        full[[0, 1, 48]], [[0.5 / 48] * 2, [1.5 / 48, 0.5 / 48], [0.5 / 48, 1.5 / 48]]
    )
    assert (full > 0).all() and (full < 1).all()


def test_decode_planted_anchor() -> None:
    anchors = torch.from_numpy(ssd_anchors(CONFIGS["short"]))
    raw = torch.zeros(1, 896, 16)
    k = 600
    raw[0, k, :4] = torch.tensor([6.4, -12.8, 32.0, 64.0])  # centre offset, size (input px)
    raw[0, k, 4:] = torch.arange(12, dtype=torch.float32)
    boxes, keypoints = decode(raw, anchors, 128)
    assert boxes.shape == (1, 896, 4) and keypoints.shape == (1, 896, 6, 2)
    cx, cy = anchors[k, 0] + 0.05, anchors[k, 1] - 0.1
    expected = torch.stack([cx - 0.125, cy - 0.25, cx + 0.125, cy + 0.25])
    torch.testing.assert_close(boxes[0, k], expected)
    torch.testing.assert_close(keypoints[0, k], anchors[k] + torch.arange(12.0).view(6, 2) / 128)
    # An all-zero regressor decodes to a point box on its anchor.
    torch.testing.assert_close(boxes[0, 0], anchors[0].repeat(2))


def test_box_iou() -> None:
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1]], np.float32)
    b = np.array([[1, 1, 3, 3], [5, 5, 6, 6], [0, 0, 2, 2]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[1 / 7, 0, 1], [0, 0, 0.25]], rtol=1e-6)


def test_weighted_nms_blends_overlapping_boxes() -> None:
    boxes = np.array(
        [[0.0, 0, 10, 10], [1, 1, 11, 11], [0, 2, 10, 12], [50, 50, 60, 60], [6, 6, 16, 16]],
        np.float32,
    )
    scores = np.array([0.6, 0.9, 0.3, 0.8, 0.7], np.float32)
    keypoints = np.repeat(boxes[:, None, :2], 6, axis=1)
    out_boxes, out_keypoints, out_scores = weighted_nms(boxes, keypoints, scores, 0.3)
    # Best first; the box at (6, 6) overlaps the best one by IoU 0.14 < 0.3 and stays apart.
    np.testing.assert_allclose(out_scores, [0.9, 0.8, 0.7])
    cluster = [1, 0, 2]
    weights = scores[cluster] / scores[cluster].sum()
    np.testing.assert_allclose(out_boxes[0], weights @ boxes[cluster], rtol=1e-6)
    np.testing.assert_allclose(
        out_keypoints[0], np.tile(weights @ boxes[cluster, :2], (6, 1)), rtol=1e-6
    )
    np.testing.assert_allclose(out_boxes[1:], boxes[[3, 4]])
    empty = weighted_nms(np.zeros((0, 4), np.float32), np.zeros((0, 6, 2), np.float32), np.zeros(0))
    assert [a.shape for a in empty] == [(0, 4), (0, 6, 2), (0,)]


@pytest.mark.parametrize("shape", [(90, 160), (160, 90), (64, 64)])
def test_letterbox_round_trip(shape: tuple[int, int]) -> None:
    height, width = shape
    image = np.zeros((height, width, 3), np.uint8)
    y, x = int(height * 0.3), int(width * 0.7)
    image[y - 2 : y + 3, x - 2 : x + 3] = 255  # a bright 5x5 square centred on (x, y)
    square, box = letterbox(image, 128)
    assert square.shape == (128, 128, 3) and square.dtype == np.uint8
    # The bright square's centroid in the input maps back onto (x, y).
    weight = square[..., 0].astype(np.float64)
    ys, xs = np.mgrid[:128, :128]
    centroid = np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()
    np.testing.assert_allclose(box.to_frame(centroid), [x, y], atol=0.5 * box.scale + 0.5)
    # The input's corners map to the square of side max(H, W) centred on the frame.
    corners = box.to_frame(np.array([[0.0, 0.0], [128.0, 128.0]]))
    side = max(height, width)
    np.testing.assert_allclose(
        corners,
        [[(width - side) / 2, (height - side) / 2], [(width + side) / 2, (height + side) / 2]],
    )
    # Letterbox borders are black.
    if width > height:
        assert square[:10].max() == 0 and square[-10:].max() == 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_random_init_forward_shapes(variant: str) -> None:
    torch.manual_seed(0)
    net = blazeface(variant, weights=None)
    size = CONFIGS[variant].input_size
    regressors, logits = net(torch.rand(2, 3, size, size) * 2 - 1)
    anchors = len(ssd_anchors(CONFIGS[variant]))
    assert regressors.shape == (2, anchors, 16) and logits.shape == (2, anchors)
    assert torch.isfinite(regressors).all() and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="expected input of shape"):
        net(torch.zeros(1, 3, size + 1, size))


@pytest.mark.parametrize("variant", VARIANTS)
def test_raw_outputs_match_tflite(variant: str) -> None:
    """Regressors and logits agree with the TFLite interpreter's (cached by the converter)."""
    reference = np.load(REPO / "tests" / "data" / "blazeface_tflite.npz")
    image = torch.from_numpy(reference[f"{variant}_input"]).permute(2, 0, 1)[None]
    with torch.no_grad():
        regressors, logits = blazeface(variant)(image.float() / 127.5 - 1.0)
    ref_regressors = reference[f"{variant}_regressors"]
    assert np.abs(ref_regressors).max() > 10  # the reference exercises the network
    np.testing.assert_allclose(regressors[0].numpy(), ref_regressors, rtol=1e-4, atol=2e-3)
    np.testing.assert_allclose(logits[0].numpy(), reference[f"{variant}_logits"], atol=2e-3)


def test_no_faces_in_synthetic_images(detector: FaceDetector) -> None:
    rng = np.random.default_rng(0)
    gradient = np.broadcast_to(
        np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 320, 3)
    )
    images = [
        np.zeros((480, 640, 3), np.uint8),
        rng.integers(0, 256, (200, 300, 3), dtype=np.uint8),
        np.ascontiguousarray(gradient),
        np.full((1, 1, 3), 128, np.uint8),
        np.zeros((8, 1000, 3), np.uint8),
    ]
    assert all(faces == [] for faces in detector.detect_batch(images))
    assert detector.detect_batch([]) == []


def test_rejects_bad_images(detector: FaceDetector) -> None:
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        detector.detect(np.zeros((64, 64), np.uint8))


def test_finds_the_astronaut(detector: FaceDetector) -> None:
    from skimage.data import astronaut

    faces = detector.detect(astronaut())
    assert len(faces) == 1
    face = faces[0]
    assert face.box.dtype == np.float32 and face.box.shape == (4,)
    assert face.keypoints.dtype == np.float32 and face.keypoints.shape == (6, 2)
    assert face.score > 0.8
    # Her face spans about x 175-280, y 70-180 of the 512x512 photo.
    assert box_iou(face.box[None], np.array([[177, 75, 276, 176]], np.float32))[0, 0] > 0.7
    x0, y0, x1, y1 = face.box
    inside = (face.keypoints[:4] > [x0, y0]).all() and (face.keypoints[:4] < [x1, y1]).all()
    assert inside
    right_eye, left_eye, nose, mouth = face.keypoints[:4]
    # MediaPipe's order: the person's right eye is on the image's left.
    assert right_eye[0] < nose[0] < left_eye[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]


def test_any_range_finds_a_face_that_fills_the_image() -> None:
    """A close-up (her face box is the whole crop) defeats the full range; the short range
    behind it finds her. On a wider shot the full range's own answer is kept."""
    from skimage.data import astronaut

    any_range = AnyRangeDetector()
    close_up = np.ascontiguousarray(astronaut()[80:180, 178:273])
    assert any_range.full.detect(close_up) == []
    faces = any_range.detect(close_up)
    assert len(faces) == 1
    assert box_iou(faces[0].box[None], np.array([[0, 0, 95, 100]], np.float32))[0, 0] > 0.5
    wide = astronaut()
    (found,), (full,) = any_range.detect(wide), any_range.full.detect(wide)
    np.testing.assert_array_equal(found.box, full.box)


def test_batch_matches_single(detector: FaceDetector) -> None:
    from skimage.data import astronaut

    image = astronaut()
    images = [image, np.ascontiguousarray(image[:400, ::-1]), np.zeros((100, 50, 3), np.uint8)]
    batched = detector.detect_batch(images)
    for single, batch in zip((detector.detect(im) for im in images), batched, strict=True):
        assert len(single) == len(batch)
        for a, b in zip(single, batch, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=1e-3)
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
    assert len(batched[1]) == 1 and batched[2] == []


def test_weights_errors(tmp_path: Path) -> None:
    net = BlazeFaceFullNet()
    with pytest.raises(FileNotFoundError, match="BlazeFace weights not found"):
        load_weights(net, tmp_path / "absent.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes((WEIGHTS_DIR / "blazeface_full.safetensors").read_bytes()[:5000])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_weights(net, truncated)
    other = tmp_path / "short.safetensors"
    shutil.copy(WEIGHTS_DIR / "blazeface_short.safetensors", other)
    with pytest.raises(ValueError, match="does not match BlazeFaceFullNet"):
        load_weights(net, other)
    with pytest.raises(ValueError, match="unknown BlazeFace variant"):
        FaceDetector("medium")


@pytest.mark.cuda
@pytest.mark.parametrize("variant", VARIANTS)
def test_cuda_matches_cpu(variant: str) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from skimage.data import astronaut

    image = astronaut()
    cpu, cuda = FaceDetector(variant).detect(image), FaceDetector(variant, "cuda").detect(image)
    assert len(cpu) == len(cuda) == 1
    np.testing.assert_allclose(cpu[0].box, cuda[0].box, atol=0.05)
    np.testing.assert_allclose(cpu[0].keypoints, cuda[0].keypoints, atol=0.05)
    assert abs(cpu[0].score - cuda[0].score) < 1e-3


@pytest.mark.data
def test_agrees_with_mediapipe_on_stills(shared_data: Path) -> None:
    """Same faces as MediaPipe's own detector, box IoU >= 0.9 on >= 95% of them."""
    bench_file = REPO / "bench" / "detector_vs_mediapipe.py"
    spec = importlib.util.spec_from_file_location("detector_vs_mediapipe", bench_file)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    paths = bench.list_stills(shared_data / "stills")
    if not paths:
        pytest.skip("no photos in ../shared/data/stills")
    if not bench.MP_PYTHON.is_file() and not all(bench._cache_file(p).is_file() for p in paths):
        pytest.skip(f"needs MediaPipe's venv {bench.MP_PYTHON} (or its cached detections)")
    reference = bench.mediapipe_detections(paths)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # steadier than two threads on a loaded two-core machine
    try:
        results = {v: bench.compare(FaceDetector(v), paths, reference, v) for v in VARIANTS}
    finally:
        torch.set_num_threads(threads)
    for variant, result in results.items():
        assert result.mediapipe_faces > 100
        assert result.found >= 0.95 * result.mediapipe_faces, (variant, result.notes)
        assert result.agreeing >= 0.95 * result.mediapipe_faces, (variant, result.notes)
        assert result.our_faces - result.found <= 0.05 * result.mediapipe_faces, result.notes


def test_frame_tiles_cover_large_frames_with_overlap() -> None:
    assert frame_tiles(720, 1280) == [] and frame_tiles(1080, 1440) == []
    assert frame_tiles(1080, 1920) == [(0, 0, 1080), (840, 0, 1080)]
    assert frame_tiles(1920, 1080) == [(0, 0, 1080), (0, 840, 1080)]
    for height, width in ((2160, 3840), (1000, 2000), (1200, 1700)):
        tiles = frame_tiles(height, width)
        covered = np.zeros((height, width), int)
        for x0, y0, side in tiles:
            assert side <= 1080 and x0 + side <= width and y0 + side <= height
            covered[y0 : y0 + side, x0 : x0 + side] += 1
        assert covered.min() >= 1
        # Neighbours overlap by a fifth of a tile at least: every window of that width
        # inside the frame lies whole in one tile.
        side = tiles[0][2]
        xs = sorted({x for x, _, _ in tiles})
        assert all(b - a <= 0.8 * side for a, b in itertools.pairwise(xs))


def _small_astronaut_frame(x0: int, y0: int) -> tuple[np.ndarray, np.ndarray]:
    """A 1920x1080 frame of smooth noise with the astronaut photo at 0.7x pasted at x0,
    y0 (her face about 31 px between the eye centres), and her face box in the frame."""
    import cv2
    from skimage.data import astronaut

    rng = np.random.default_rng(0)
    noise = rng.integers(60, 160, (27, 48, 3), dtype=np.uint8)
    frame = cv2.resize(noise, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    photo = cv2.resize(astronaut(), None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    frame[y0 : y0 + photo.shape[0], x0 : x0 + photo.shape[1]] = photo
    box = np.array([177, 75, 276, 176], np.float32) * 0.7 + [x0, y0, x0, y0]
    return frame, box.astype(np.float32)


@pytest.mark.parametrize("place", [(300, 500), (1500, 600)])
def test_tiles_find_a_small_face_the_whole_frame_misses(place: tuple[int, int]) -> None:
    full = FaceDetector("full")
    frame, box = _small_astronaut_frame(*place)
    assert full.detect(frame) == []  # 1920 px into 192: her eyes are 3 input px apart
    found = [
        d for tile in frame_tiles(1080, 1920) for d in detect_in_tile(full.detect, frame, tile)
    ]
    assert len(found) == 1
    assert box_iou(found[0].box[None], box[None])[0, 0] > 0.6
    right_eye, left_eye = found[0].keypoints[:2]
    assert box[0] < right_eye[0] < left_eye[0] < box[2]


def test_detect_in_tile_moves_boxes_and_drops_faces_cut_by_inner_edges() -> None:
    def detect(image: np.ndarray) -> list[Detection]:
        assert image.shape == (1080, 1080, 3)
        keypoints = np.full((6, 2), 50, np.float32)
        return [
            Detection(np.array(box, np.float32), keypoints + box[:2], 0.9)
            for box in ([10, 10, 90, 90], [1000, 500, 1079, 580], [0, 300, 60, 360])
        ]

    frame = np.zeros((1080, 1920, 3), np.uint8)
    first, second = frame_tiles(1080, 1920)
    # The first tile's right edge is inside the frame: the box that reaches it is cut.
    kept = detect_in_tile(detect, frame, first)
    assert [d.box.tolist() for d in kept] == [[10, 10, 90, 90], [0, 300, 60, 360]]
    # The second tile's left edge is inside the frame, its right edge is the frame's.
    kept = detect_in_tile(detect, frame, second)
    assert [d.box.tolist() for d in kept] == [[850, 10, 930, 90], [1840, 500, 1919, 580]]
    np.testing.assert_allclose(kept[0].keypoints, np.full((6, 2), 50) + [850, 10])
