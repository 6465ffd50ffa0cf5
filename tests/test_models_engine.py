"""LandmarkEngine on CPU: batching, the full crop -> model -> decode chain, tracking."""

import math
import os
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from facestream.models import crops
from facestream.models.engine import (
    TILE_MIN_EYES,
    FaceLandmarks,
    LandmarkEngine,
    cut_crops_torch,
)
from facestream.models.heatmaps import render_heatmaps
from facestream.models.hrnet import CONFIGS
from facestream.models.landmarks import MEAN_SHAPE


class OracleNet(nn.Module):
    """Heatmaps of the template face, wherever the crop is: the engine must then return
    the template mapped through the crop affine, which is the input face."""

    def __init__(self):
        super().__init__()
        self.config = CONFIGS["hrnet128_lite"]
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        unit = torch.from_numpy(0.5 + (MEAN_SHAPE - 0.5) * crops.FACE_FRACTION)
        size = (self.config.heatmap_size, self.config.heatmap_size)
        return render_heatmaps(unit.expand(x.shape[0], -1, -1), size, 1.5)


@dataclass
class FakeDetection:
    box: np.ndarray
    keypoints: np.ndarray
    score: float


def _face(angle_deg, height, cx, cy):
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * height
    return ((MEAN_SHAPE - 0.5) @ rot.T + [cx, cy]).astype(np.float32)


def _detection(face_points, angle_deg, height, cx, cy):
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * height
    kps = (crops.DETECTION_TEMPLATE - 0.5) @ rot.T + [cx, cy]
    box = np.concatenate([face_points[:68].min(0), face_points[:68].max(0)])
    return FakeDetection(box.astype(np.float32), kps.astype(np.float32), 0.9)


FRAME = np.zeros((480, 640, 3), np.uint8)


def test_predict_shapes_no_nans_random_weights():
    engine = LandmarkEngine("hrnet128_lite", weights=None, device="cpu")
    faces = engine.predict(FRAME, [_face(10, 150, 200, 220), _face(-30, 90, 480, 260)])
    assert len(faces) == 2 and isinstance(faces[0], FaceLandmarks)
    for f in faces:
        assert f.points.shape == (128, 2) and f.points.dtype == np.float32
        assert f.confidence.shape == (128,) and f.box.shape == (4,)
        assert np.isfinite(f.points).all() and np.isfinite(f.confidence).all()
    assert engine.predict(FRAME, []) == []


def test_batch_equals_single_with_frozen_model():
    engine = LandmarkEngine("hrnet128_lite", weights=None, device="cpu", jit=True)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    faces = np.stack([_face(0, 150, 200, 220), _face(20, 120, 450, 250), _face(-5, 60, 320, 400)])
    affines = engine.crop_affines(faces)
    batch_points, batch_conf = engine.infer(frame, affines)
    for i in range(3):
        p, c = engine.infer(frame, affines[i : i + 1])
        assert np.allclose(p[0], batch_points[i], atol=1e-3)
        assert np.allclose(c[0], batch_conf[i], atol=1e-4)


@pytest.mark.parametrize("angle", [0.0, 35.0, -120.0])
def test_full_chain_recovers_faces_through_rotation_and_scale(angle):
    engine = LandmarkEngine(OracleNet(), device="cpu")
    face = _face(angle, 180, 320, 250)
    small = _face(angle / 2, 70, 520, 120)
    out = engine.predict(FRAME, [face, small])
    for f, truth, height in zip(out, [face, small], [180, 70], strict=True):
        cell = height / crops.FACE_FRACTION / 32  # frame pixels per heatmap cell
        assert np.abs(f.points - truth).max() < 0.05 * cell
        assert f.confidence.min() > 0.99


def test_crops_from_detections_land_on_the_face():
    engine = LandmarkEngine(OracleNet(), device="cpu")
    face = _face(15, 160, 300, 240)
    det = _detection(face, 15, 160, 300, 240)
    out = engine.predict(FRAME, [det])
    # A detection crop is close to the landmark crop; the oracle output then lies near the
    # face (within a few percent of its size).
    assert np.abs(out[0].points - face).max() < 0.05 * 160


def test_tracking_ids_and_detector_schedule():
    face_a, face_b = _face(0, 150, 200, 220), _face(5, 120, 470, 230)
    calls = []

    def detector(frame):
        calls.append(1)
        return [_detection(face_a, 0, 150, 200, 220), _detection(face_b, 5, 120, 470, 230)]

    engine = LandmarkEngine(OracleNet(), device="cpu", detector=detector, detect_every=5)
    ids = [sorted(f.track_id for f in engine.track(FRAME)) for _ in range(11)]
    assert all(i == [0, 1] for i in ids)  # stable ids; re-detections match existing tracks
    assert len(calls) == 3  # frames 0, 5, 10
    engine.reset()
    assert sorted(f.track_id for f in engine.track(FRAME)) == [2, 3]


@pytest.mark.parametrize("recover", [True, False])
def test_lost_face_is_looked_for_again(recover):
    face = _face(0, 150, 300, 240)
    calls = []

    def detector(frame):
        calls.append(1)
        return [_detection(face, 0, 150, 300, 240)]

    net = OracleNet()
    engine = LandmarkEngine(net, device="cpu", detector=detector, detect_every=100, recover=recover)
    assert len(engine.track(FRAME)) == 1
    engine.min_confidence = 1.01  # every face now counts as lost
    assert engine.track(FRAME) == []
    # recover: the detector and the re-detected crop ran on the lost frame itself (and
    # could not hold the face); the old tracker waits for the next frame.
    assert len(calls) == (2 if recover else 1)
    assert net.calls == (3 if recover else 2)
    engine.min_confidence = 0.3
    assert [f.track_id for f in engine.track(FRAME)] == [1]  # found again, new id
    assert len(calls) == (3 if recover else 2)


class BlobNet(nn.Module):
    """A stub model that looks at its crop: the face is a bright disc (radius 0.3 face
    heights), the template goes where the disc's centroid is, and the heatmaps peak at the
    share of the disc inside the crop, so a face that ran out of its crop loses confidence."""

    def __init__(self):
        super().__init__()
        self.config = CONFIGS["hrnet128_lite"]

    def forward(self, x):
        unit = torch.from_numpy(0.5 + (MEAN_SHAPE - 0.5) * crops.FACE_FRACTION).float()
        n, _, s, _ = x.shape
        mask = (x[:, 0] > 0.5).float()
        coords = (torch.arange(s, dtype=torch.float32) + 0.5) / s
        area = mask.sum((1, 2)).clamp_min(1.0)
        centroid = torch.stack(
            [(mask.sum(1) * coords).sum(1) / area, (mask.sum(2) * coords).sum(1) / area], -1
        )
        share = (mask.sum((1, 2)) / (math.pi * (0.3 * crops.FACE_FRACTION * s) ** 2)).clamp(0, 1)
        points = unit[None] + (centroid - unit.mean(0))[:, None]
        size = (self.config.heatmap_size, self.config.heatmap_size)
        return render_heatmaps(points, size, 1.5) * share[:, None, None, None]


def _disc_frame(centre, height, shape=(480, 960)):
    frame = np.zeros((*shape, 3), np.uint8)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    inside = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= (0.3 * height) ** 2
    frame[inside] = 255
    return frame


def _disc_detector(height, calls):
    """Finds the disc of `_disc_frame` (its centroid is the face template's mean point)."""
    offset = (MEAN_SHAPE.mean(0) - 0.5) * height

    def detect(frame):
        calls.append(1)
        ys, xs = np.nonzero(frame[:, :, 0])
        if not len(xs):
            return []
        centre = np.array([xs.mean(), ys.mean()]) - offset
        return [_detection(_face(0, height, *centre), 0, height, *centre)]

    return detect


@pytest.mark.parametrize("speed", [35, 60])  # px per frame: 0.35 and 0.6 crop sides
def test_fast_face_stays_tracked_with_its_id(speed):
    height, y = 80, 240.0
    centres = [(60.0 + speed * t, y) for t in range(int(800 / speed))]
    frames = [_disc_frame(c, height) for c in centres]
    offset = (MEAN_SHAPE.mean(0) - 0.5) * height

    def run(**options):
        calls = []
        engine = LandmarkEngine(
            BlobNet(), device="cpu", detector=_disc_detector(height, calls), **options
        )
        return [engine.track(f) for f in frames], calls

    tracked, calls = run()
    assert all(len(faces) == 1 and faces[0].track_id == 0 for faces in tracked)
    error = [
        np.abs(f[0].points.mean(0) - offset - c).max()
        for f, c in zip(tracked, centres, strict=True)
    ]
    # The template's mean point lands on the disc: within 2% of the face height once the
    # motion is known, within 10% on the first moving frame (crop at the last place).
    assert max(error[2:]) < 0.02 * height and error[1] < 0.1 * height
    assert len(calls) <= 2  # the first frame, then at most one re-detection

    # The old tracker (crop at the last landmarks, detector on the next frame) loses it.
    old, _ = run(predict_motion=False, recover=False)
    ids = [faces[0].track_id if faces else None for faces in old]
    lost_or_new = sum(i != 0 for i in ids)
    assert lost_or_new >= len(frames) // 3


def test_grid_sample_crops_match_opencv_crops():
    rng = np.random.default_rng(1)
    frame = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    frame = np.ascontiguousarray(np.repeat(np.repeat(frame[::8, ::8], 8, 0), 8, 1))
    # 80 px face in a 64 px crop: under 2 frame pixels per crop pixel, so no pyramid level.
    affines = crops.crop_from_landmarks(np.stack([_face(25, 80, 160, 120)]))
    ref = crops.cut_crops(frame, affines, 64).astype(np.float32) / 255
    t = cut_crops_torch(torch.from_numpy(frame).permute(2, 0, 1), torch.from_numpy(affines), 64)
    got = t.permute(0, 2, 3, 1).numpy()
    inner = (slice(None), slice(4, -4), slice(4, -4))
    assert np.abs(got - ref)[inner].mean() < 0.01


def test_bad_frame_is_a_clear_error():
    engine = LandmarkEngine(OracleNet(), device="cpu")
    with pytest.raises(ValueError, match="RGB uint8"):
        engine.predict(np.zeros((10, 10), np.uint8), [_face(0, 5, 5, 5)])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_agrees_with_cpu_and_pipelines():
    torch.manual_seed(0)
    from facestream.models.hrnet import hrnet128_lite

    net = hrnet128_lite()
    cpu = LandmarkEngine(net, device="cpu", jit=False)
    gpu = LandmarkEngine(hrnet128_lite(), device="cuda", dtype=torch.float32)
    gpu.net.load_state_dict(net.state_dict())
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    affines = cpu.crop_affines(np.stack([_face(0, 150, 200, 220), _face(20, 120, 450, 250)]))
    p_cpu, c_cpu = cpu.infer(frame, affines)
    p_gpu, c_gpu = gpu.infer(frame, affines)
    # Bilinear sampling differs slightly between OpenCV and grid_sample: a fraction of a cell.
    cell = np.linalg.norm(affines[:, :, 0], axis=1)[:, None] / 32
    assert np.median(np.linalg.norm(p_cpu - p_gpu, axis=-1) / cell) < 0.25
    batch = crops.cut_crops(frame, affines, 128)
    results = list(gpu.run_batches([(batch, affines)] * 5))
    assert len(results) == 5
    for p, _ in results:
        assert np.allclose(p, results[0][0], atol=1e-3)


def _clip_squares(path, count: int, side: int) -> list[np.ndarray]:
    import av
    import cv2

    with av.open(str(path)) as container:
        frames = container.decode(video=0)
        images = [next(frames).to_ndarray(format="rgb24") for _ in range(count)]
    return [cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA) for im in images]


@pytest.mark.data
def test_two_faces_crossing_keep_their_ids(shared_data):
    """Two real faces pass each other, the second covering the first's chin: each keeps its
    track id, and no id jumps to the other face (`bench/tracking.py` measures the same)."""
    count, side = 40, 300
    videos = shared_data / "videos"
    squares = [
        _clip_squares(videos / "retalking" / "1.mp4", count, side),
        _clip_squares(videos / "liveportrait" / "d3.mp4", count, side),
    ]
    engine = LandmarkEngine("hrnet128_lite", device="cpu")
    # Where each face sits in its own square (they barely move in these calm clips).
    centres = []
    for square in squares:
        centres.append(engine.track(square[0])[0].points[:68].mean(0))
        engine.reset()
    ids: list[set[int]] = [set(), set()]
    for k in range(count):
        frame = np.full((520, 900, 3), 90, np.uint8)
        left = round(600 * k / (count - 1))  # 15 px a frame, crossing at frame 20
        corners = np.array([(left, 20), (600 - left, 130)])
        for square, (x, y) in zip(squares, corners, strict=True):
            frame[y : y + side, x : x + side] = square[k]
        faces = engine.track(frame)
        assert len(faces) == 2, f"frame {k}: {len(faces)} faces"
        expected = corners + np.array(centres)
        for face in faces:
            distance = np.linalg.norm(expected - face.points[:68].mean(0), axis=1)
            owner = int(np.argmin(distance))
            # A quarter of the square: the covered chin moves the points' mean by ~30 px.
            assert distance[owner] < 0.25 * side, f"frame {k}: a track off both faces"
            ids[owner].add(face.track_id)
    assert len(ids[0]) == 1 and len(ids[1]) == 1 and ids[0] != ids[1], ids


def test_engines_share_one_frozen_model_per_weights_file(tmp_path):
    """Each live call builds an engine: the traced, frozen model is built once per file,
    and a file written again (another modification time) is loaded afresh."""
    from facestream.models.hrnet import create_model, save_weights

    path = tmp_path / "w.safetensors"
    save_weights(create_model("hrnet128_lite"), path)
    first = LandmarkEngine("hrnet128_lite", weights=path, device="cpu")
    second = LandmarkEngine("hrnet128_lite", weights=path, device="cpu")
    assert first.net is second.net
    faces = np.stack([_face(5, 150, 300, 240)])
    assert np.array_equal(
        first.predict(FRAME, faces)[0].points, second.predict(FRAME, faces)[0].points
    )
    save_weights(create_model("hrnet128_lite"), path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert LandmarkEngine("hrnet128_lite", weights=path, device="cpu").net is not first.net
    # Random weights are never shared.
    assert LandmarkEngine(weights=None).net is not LandmarkEngine(weights=None).net


@pytest.mark.parametrize(("tiles", "height"), [(True, 150), (False, 150), (True, 50)])
def test_large_frame_tiles_find_a_small_face_one_tile_a_frame(tiles, height):
    """A 1920x1080 frame's detector pass is followed by one on each of its two tiles, one
    tile a frame; a face the whole frame's pass misses (this detector sees a face only in
    an image under 1200 px wide) is found in the second tile, in frame pixels, unless its
    eyes are closer than `TILE_MIN_EYES` (height 50: 27 px)."""
    face = _face(0, height, 1140, 500)  # in the second tile (840-1920) only
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[460:540, 1100:1180] = 255
    shapes = []

    def detector(image):
        shapes.append(image.shape[:2])
        ys, xs = np.nonzero(image[..., 0])
        if image.shape[1] >= 1200 or not len(xs):
            return []
        cx, cy = xs.mean(), ys.mean()
        return [_detection(face - [1140 - cx, 500 - cy], 0, height, cx, cy)]

    engine = LandmarkEngine(
        OracleNet(), device="cpu", detector=detector, detect_every=30, detect_tiles=tiles
    )
    found = [engine.track(frame) for _ in range(6)]
    if not tiles:  # the old engine: the whole frame on every frame, and nothing found
        assert shapes == [(1080, 1920)] * 6 and all(f == [] for f in found)
        return
    # Frame 0 the whole frame, frames 1 and 2 a tile each, then nothing until frame 30.
    if np.linalg.norm(face[36] - face[45]) < TILE_MIN_EYES:
        # Too small to swap: not started; with no face, the whole frame again after.
        assert shapes == [(1080, 1920), (1080, 1080), (1080, 1080)] * 2
        assert all(f == [] for f in found)
        return
    assert shapes == [(1080, 1920), (1080, 1080), (1080, 1080)]
    assert [len(f) for f in found] == [0, 0, 1, 1, 1, 1]
    assert np.abs(found[2][0].points - face).max() < 0.05 * height
    assert {f[0].track_id for f in found[2:]} == {0}
