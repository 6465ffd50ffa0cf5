"""Occluders in front of the target's face stay in front of the swapped face."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from facestream.filters.blend import polygon_mask
from facestream.filters.enroll import enroll_source
from facestream.filters.occlusion import PERSIST_FRAMES, WARMUP_FRAMES, OcclusionModel
from facestream.filters.swap import SwapOptions, TrackState, build_swap_stage, composite_face
from facestream.models.landmarks import FACE_OUTLINE, MEAN_SHAPE

SCALE, X, Y = 220.0, 130.0, 60.0


def face_points(dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    return np.asarray(MEAN_SHAPE, np.float32) * SCALE + np.array([X + dx, Y + dy], np.float32)


def smooth_texture(h: int, w: int, seed: int, base: tuple[int, int, int]) -> np.ndarray:
    """A face-like surface: a base colour with soft blotches (skin shading)."""
    rng = np.random.default_rng(seed)
    small = rng.normal(0, 18, (h // 24 + 1, w // 24 + 1, 3)).astype(np.float32)
    shading = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(np.array(base, np.float32) + shading, 0, 255).astype(np.uint8)


@pytest.fixture
def source(tmp_path: Path):
    path = tmp_path / "source.png"
    # Skin shading with pore-scale grain a pixel or two across: a sharp photo, not an
    # enlarged small face (white pixel noise would not count as detail at enrollment).
    grain = cv2.GaussianBlur(np.random.default_rng(7).normal(0, 10, (420, 400, 3)), (0, 0), 0.7)
    image = np.clip(smooth_texture(420, 400, 1, (90, 120, 200)) + grain, 0, 255)
    cv2.imwrite(str(path), image.astype(np.uint8))  # BGR on disk
    points = np.asarray(MEAN_SHAPE, np.float32) * 300 + np.array([50, 60], np.float32)
    return enroll_source(path, lambda image: [points])


def target_frames(count: int, seed: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """A target face that moves a little, with sensor noise and a slow change of light."""
    rng = np.random.default_rng(seed)
    face = smooth_texture(360, 480, seed, (200, 150, 120))
    frames = []
    for t in range(count):
        dx, dy = rng.normal(0, 1.0, 2)
        m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        img = cv2.warpAffine(face, m, (480, 360), borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        img = img * (1.0 + 0.004 * t) + rng.normal(0, 2.0, img.shape)
        jitter = rng.normal(0, 0.4, (128, 2)).astype(np.float32)
        frames.append((np.clip(img, 0, 255).astype(np.uint8), face_points(dx, dy) + jitter))
    return frames


def occluder_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A rectangle (a phone, a cup) over the mouth and chin."""
    mask = np.zeros(shape, np.uint8)
    x0, y0 = points[48].astype(int) - (10, 15)
    x1, y1 = points[8].astype(int) + (60, -5)
    mask[y0:y1, x0:x1] = 1
    return mask > 0


def composite_run(frames, source, options: SwapOptions):
    state = TrackState()
    results = []
    for image, points in frames:
        out = image.copy()
        res = composite_face(out, points, source, options, state)
        assert res is not None
        results.append((out, res))
    return results


def full_alpha(res, shape: tuple[int, int]) -> np.ndarray:
    alpha = np.zeros(shape, np.float32)
    x0, y0, x1, y1 = res.box
    alpha[y0:y1, x0:x1] = res.alpha
    return alpha


def test_an_occluder_in_front_of_the_face_stays_visible(source):
    frames = target_frames(24)
    start = 10
    occluded = []
    for t, (image, points) in enumerate(frames):
        if t >= start:
            image = image.copy()
            image[occluder_mask(points, image.shape[:2])] = (40, 60, 230)  # a blue object
        occluded.append((image, points))
    on = composite_run(occluded, source, SwapOptions())
    off = composite_run(occluded, source, SwapOptions(occlusion=False))
    # Kept once it has been found PERSIST_FRAMES frames in a row.
    for t in range(start + PERSIST_FRAMES - 1, len(frames)):
        image, points = occluded[t]
        mask = occluder_mask(points, image.shape[:2])
        face = polygon_mask(points[FACE_OUTLINE], image.shape[:2]) > 0
        # The occluder's inside (away from its edge and the face outline's feather).
        inside = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        inside &= cv2.erode(face.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0
        assert inside.sum() > 500
        diff_on = np.abs(on[t][0].astype(int) - image).max(axis=2)[inside]
        diff_off = np.abs(off[t][0].astype(int) - image).max(axis=2)[inside]
        # Without occlusion handling the source covers it (what the old code did).
        assert np.mean(diff_off > 30) > 0.9
        assert np.mean(diff_on <= 3) > 0.97, f"frame {t}: the occluder was pasted over"
        # And the face beside it is still swapped.
        beside = face & ~cv2.dilate(mask.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
        alpha_on = full_alpha(on[t][1], image.shape[:2])
        alpha_off = full_alpha(off[t][1], image.shape[:2])
        assert np.abs(alpha_on - alpha_off)[beside].max() < 0.05


def test_with_no_occluder_the_mask_is_unchanged(source):
    frames = target_frames(40, seed=3)
    on = composite_run(frames, source, SwapOptions())
    off = composite_run(frames, source, SwapOptions(occlusion=False))
    for (image, _), (_, res_on), (_, res_off) in zip(frames, on, off, strict=True):
        a_on = full_alpha(res_on, image.shape[:2])
        a_off = full_alpha(res_off, image.shape[:2])
        assert np.abs(a_on - a_off).max() < 1e-6


def test_a_still_occluder_is_not_learned_as_face():
    model = OcclusionModel()
    frames = target_frames(60, seed=4)
    shares = []
    for t, (image, points) in enumerate(frames):
        mask = occluder_mask(points, image.shape[:2])
        if t >= WARMUP_FRAMES + 2:
            image = image.copy()
            image[mask] = (230, 230, 40)
        found = model.occlusion(image, points)
        if t >= WARMUP_FRAMES + 1 + PERSIST_FRAMES:
            assert found is not None, f"frame {t}: the occluder was lost"
            shares.append(float((found[mask] > 0.5).mean()))
    assert min(shares) > 0.9


def test_an_occluder_from_the_first_frame_is_found():
    # No bare face seen first: the first frame's skin far off the face's own colour, in a
    # region large enough, is taken for an occluder rather than learned as the face.
    model = OcclusionModel()
    for t, (image, points) in enumerate(target_frames(16, seed=5)):
        mask = occluder_mask(points, image.shape[:2])
        image = image.copy()
        image[mask] = (230, 230, 40)
        found = model.occlusion(image, points)
        if t >= WARMUP_FRAMES + PERSIST_FRAMES:
            assert found is not None, f"frame {t}: the occluder was taken for the face"
            assert (found[mask] > 0.5).mean() > 0.8


def test_a_first_frame_in_the_face_own_colour_is_the_face():
    # A patch of the face's own colour with other shading (a shadow, or the limit: a hand
    # in the target's skin tone from the first frame) is learned as the face.
    model = OcclusionModel()
    for image, points in target_frames(16, seed=5):
        mask = occluder_mask(points, image.shape[:2])
        image = image.copy()
        image[mask] = (image[mask] * 0.8).astype(np.uint8)
        assert model.occlusion(image, points) is None


def skin_toned_hand(image: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    """`image` with `mask` painted in the face's own median colour, shaded from the top
    left to the bottom right and darker at its rim (a hand in the target's skin tone)."""
    tone = np.median(image[~mask], axis=0).astype(np.float32)
    ys, xs = np.nonzero(mask)
    ramp = np.zeros(mask.shape, np.float32)
    ramp[ys, xs] = (xs - xs.min() + ys - ys.min()) / float(np.ptp(xs) + np.ptp(ys))
    rim = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3.0)
    shade = (1.12 - 0.3 * ramp) * (0.8 + 0.2 * rim)
    noise = np.random.default_rng(seed).normal(0, 3, image.shape)
    hand = np.clip(tone * shade[..., None] + noise, 0, 255)
    return np.where(mask[..., None], hand, image).astype(np.uint8)


def shares_found(seed: int, paint, under: float) -> list[float]:
    """Per frame once it counts, the share of an occluder (`paint(image, mask, t)` from
    frame 8 of 24) found, its landmarks' confidence `under` against 0.9 for the others."""
    model, start, shares = OcclusionModel(), 8, []
    for t, (image, points) in enumerate(target_frames(24, seed=seed)):
        mask = occluder_mask(points, image.shape[:2])
        confidence = np.full(128, 0.9, np.float32)
        if t >= start:
            image = paint(image, mask, t)
            confidence[mask[points[:, 1].astype(int), points[:, 0].astype(int)]] = under
        found = model.occlusion(image, points, confidence)
        if t >= start + PERSIST_FRAMES - 1:
            shares.append(0.0 if found is None else float((found[mask] > 0.5).mean()))
    return shares


def test_a_hand_in_the_face_own_skin_tone_is_found():
    # Close to the face in colour everywhere: found where the landmarks under it lose
    # confidence (as the engine's do behind a hand) and grown over the rest of it.
    assert np.mean(shares_found(6, skin_toned_hand, under=0.75)) > 0.4


def test_a_change_for_two_frames_is_not_an_occluder():
    # A mouth opening, a head turn's shading, a blink: gone before it counts.
    model = OcclusionModel()
    for t, (image, points) in enumerate(target_frames(20, seed=7)):
        if t in (10, 11):
            image = image.copy()
            image[occluder_mask(points, image.shape[:2])] = (40, 60, 230)
        assert model.occlusion(image, points) is None, f"frame {t}"


def test_the_command_line_turns_it_off(monkeypatch):
    import facestream.filters.enroll as enroll

    monkeypatch.setattr(enroll, "enroll_source", lambda paths, fn: None)
    args = SimpleNamespace(source="me.jpg", no_occlusion=True)
    assert build_swap_stage(args, None).options.occlusion is False
    args = SimpleNamespace(source="me.jpg")
    assert build_swap_stage(args, None).options.occlusion is True


@pytest.mark.parametrize("points_in_doubt", [False, True])
def test_low_landmark_confidence_finds_an_occluder_close_to_the_face(points_in_doubt):
    # An occluder only a little off the face's colour is found where the landmarks under it
    # lose confidence (as the engine's do behind a hand), not where they keep it.
    def bluer(image: np.ndarray, mask: np.ndarray, t: int) -> np.ndarray:
        image = image.copy()
        image[mask] = np.clip(image[mask].astype(int) + (-22, 0, 22), 0, 255)
        return image

    shares = shares_found(6, bluer, under=0.6 if points_in_doubt else 0.9)
    if points_in_doubt:
        assert np.mean(shares) > 0.5
    else:
        assert np.mean(shares) < 0.1


@pytest.mark.data
def test_an_occluder_over_a_real_face_stays_visible(shared_data):
    # A real talking head, the product's own landmarks (the engine tracking the occluded
    # frames); a blue card over the lower face from frame 8.
    import av

    from facestream.models.engine import LandmarkEngine
    from facestream.models.hrnet import default_weights_path
    from facestream.stream.live_chain import EngineLandmarks

    if not default_weights_path("hrnet128_lite").is_file():
        pytest.skip("needs the shipped landmark weights")
    engine = LandmarkEngine("hrnet128_lite", num_threads=1)
    source = enroll_source(
        shared_data / "stills" / "deepface" / "img6.jpg", EngineLandmarks(engine)
    )
    frames = []
    with av.open(str(shared_data / "videos" / "liveportrait" / "s32.mp4")) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == 16:
                break
    engine.reset()
    first = engine.track(frames[0])[0].points
    eyes = float(np.linalg.norm(first[36] - first[45]))
    x0, y0 = (first[48] - (0.1 * eyes, 0.2 * eyes)).astype(int)
    x1, y1 = (first[8] + (0.5 * eyes, 0.0)).astype(int)
    card = np.zeros(frames[0].shape[:2], bool)
    card[y0:y1, x0:x1] = True
    occluded = []
    for t, image in enumerate(frames):
        if t >= 8:
            image = image.copy()
            image[card] = (40, 70, 220)
        faces = engine.track(image)
        occluded.append((image, faces[0].points, faces[0].confidence))
    kept = {}
    for name, options in (("on", SwapOptions()), ("off", SwapOptions(occlusion=False))):
        state, shares = TrackState(), []
        for t, (image, points, confidence) in enumerate(occluded):
            out = image.copy()
            res = composite_face(out, points, source, options, state, confidence)
            assert res is not None
            if t >= 8 + PERSIST_FRAMES - 1:  # kept once found so many frames in a row
                alpha = full_alpha(res, image.shape[:2])
                inside = card & (polygon_mask(points[FACE_OUTLINE], image.shape[:2]) > 0)
                shown = np.abs(out.astype(int) - image).max(axis=2) <= 12
                shares.append(float(shown[inside].mean()))
                if name == "off":
                    assert alpha[inside].mean() > 0.5  # the card is in the swapped region
        kept[name] = np.mean(shares)
    assert kept["off"] < 0.3
    assert kept["on"] > 0.9
