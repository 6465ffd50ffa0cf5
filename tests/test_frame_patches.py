"""RGB patches read from and written into a decoded frame's YUV planes (`Frame.read_patch`,
`Frame.write_patch`): colour matrix and range, exact round trips, boxes, decoder safety."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from facestream.stream.file_io import EncoderOptions
from facestream.stream.frames import Frame, to_rgb
from facestream.stream.transcode import transcode

# (colorspace, color_range) tags: BT.601 (SMPTE 170M) and BT.709, limited (1) and full (2).
COLOURS = {
    "bt601 limited": (6, 1),
    "bt601 full": (6, 2),
    "bt709 limited": (1, 1),
    "bt709 full": (1, 2),
}
# Luma weights (Kr, Kb) of each matrix.
WEIGHTS = {6: (0.299, 0.114), 1: (0.2126, 0.0722)}


def textured(h: int = 72, w: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (h + w)], -1)
    return np.clip(base + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)


def yuv_frame(rgb: np.ndarray, colorspace: int, color_range: int) -> av.VideoFrame:
    """A yuv420p frame of ``rgb`` converted with, and tagged with, the given matrix and range."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=colorspace, dst_color_range=color_range
    )
    frame.colorspace, frame.color_range = colorspace, color_range
    frame.pts, frame.time_base = 0, Fraction(1, 25)
    return frame


def planes(video_frame: av.VideoFrame) -> list[np.ndarray]:
    """Copies of the Y, U and V planes."""
    return [
        np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)[:, : p.width].copy()
        for p in video_frame.planes
    ]


def reference_rgb(y: float, u: float, v: float, colorspace: int, color_range: int) -> np.ndarray:
    """YUV -> RGB by the textbook formulas (not FFmpeg's code)."""
    kr, kb = WEIGHTS[colorspace]
    if color_range == 1:
        luma, pb, pr = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    else:
        luma, pb, pr = y / 255, (u - 128) / 255, (v - 128) / 255
    r = luma + 2 * (1 - kr) * pr
    b = luma + 2 * (1 - kb) * pb
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return np.array([r, g, b]) * 255


@pytest.mark.parametrize("colour", COLOURS)
def test_a_patch_is_the_same_box_of_the_whole_image(colour):
    frame = Frame.from_av(yuv_frame(textured(), *COLOURS[colour]), 0)
    box = frame.patch_box(10, 6, 50, 40)
    x0, y0, x1, y1 = box
    assert np.array_equal(frame.read_patch(box), to_rgb(frame.source)[y0:y1, x0:x1])


@pytest.mark.parametrize("colour", COLOURS)
def test_untouched_round_trip_changes_nothing(colour):
    source = yuv_frame(textured(), *COLOURS[colour])
    original = planes(source)
    frame = Frame.from_av(source, 0)
    box = frame.patch_box(11, 7, 61, 49)
    patch = frame.read_patch(box)
    frame.write_patch(box, patch.copy(), before=patch)
    assert all(np.array_equal(a, b) for a, b in zip(planes(frame.to_av()), original, strict=True))
    # Written whole (no `before`), the box goes through RGB and back: rounding only.
    frame.write_patch(box, patch)
    for a, b in zip(planes(frame.to_av()), original, strict=True):
        error = np.abs(a.astype(int) - b)
        assert error.max() <= 3 and error.mean() < 0.5
    assert not frame.has_pixels  # still the decoded YUV frame, never a whole RGB image


@pytest.mark.parametrize("colour", COLOURS)
def test_written_colour_reads_back_with_the_frames_matrix_and_range(colour):
    colorspace, color_range = COLOURS[colour]
    frame = Frame.from_av(yuv_frame(textured(), colorspace, color_range), 0)
    box = frame.patch_box(20, 10, 60, 50)
    wanted = np.array([200, 60, 30], np.uint8)
    frame.write_patch(box, np.broadcast_to(wanted, (40, 40, 3)).copy())
    y, u, v = planes(frame.to_av())
    got = reference_rgb(float(y[30, 40]), float(u[15, 20]), float(v[15, 20]), *COLOURS[colour])
    assert np.abs(got - wanted).max() <= 3, (got, wanted)


@pytest.mark.parametrize("colour", COLOURS)
def test_written_patches_convert_like_ffmpeg_within_a_level(colour):
    colorspace, color_range = COLOURS[colour]
    frame = Frame.from_av(yuv_frame(textured(), colorspace, color_range), 0)
    box = frame.patch_box(8, 4, 72, 60)
    rgb = textured(56, 64, seed=1)
    frame.write_patch(box, rgb)
    ffmpeg = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=colorspace, dst_color_range=color_range
    )
    written = planes(frame.to_av())
    for got, want, (x0, y0, x1, y1) in zip(
        written, planes(ffmpeg), [box, *[tuple(v // 2 for v in box)] * 2], strict=True
    ):
        assert np.abs(got[y0:y1, x0:x1].astype(int) - want).max() <= 1


def test_only_changed_pixels_inside_the_box_are_written():
    source = yuv_frame(textured(), 1, 1)
    before_image = to_rgb(source)
    frame = Frame.from_av(source, 0)
    box = frame.patch_box(20, 10, 70, 60)
    patch = frame.read_patch(box)
    changed = patch.copy()
    changed[14:27, 9:30] = 255  # odd sizes: the chroma samples they share are rewritten
    frame.write_patch(box, changed, before=patch)
    diff = np.any(frame.read_image() != before_image, axis=2)
    ys, xs = np.nonzero(diff)
    # Only the 2x2 chroma blocks holding the changed pixels (rows 24-36, cols 28-49).
    assert ys.min() >= 10 + 14 and ys.max() <= 10 + 27 and xs.min() >= 20 + 8
    assert xs.max() <= 20 + 30 and diff[10 + 14 : 10 + 27, 20 + 9 : 20 + 30].all()


def test_boxes_snap_to_the_chroma_grid_and_the_frame():
    frame = Frame.from_av(yuv_frame(textured(71 + 1, 95 + 1), 1, 1), 0)
    assert frame.patch_box(-5, 3, 51, 200) == (0, 2, 52, 72)
    with pytest.raises(ValueError, match="patch_box"):
        frame.read_patch((1, 2, 11, 12))
    with pytest.raises(ValueError, match="uint8"):
        frame.write_patch((0, 0, 10, 10), np.zeros((10, 12, 3), np.uint8))
    # A 4:4:4 frame needs no snapping.
    full = av.VideoFrame.from_ndarray(textured(), format="rgb24").reformat(format="yuv444p")
    assert Frame.from_av(full, 0).patch_box(1, 3, 7, 9) == (1, 3, 7, 9)


def test_rgb_frames_and_an_existing_image_take_patches_in_rgb():
    image = textured()
    frame = Frame.from_av(av.VideoFrame.from_ndarray(image, format="rgb24"), 0)
    box = frame.patch_box(5, 5, 25, 25)
    frame.write_patch(box, np.zeros((20, 20, 3), np.uint8))
    assert frame.has_pixels and not frame.image[5:25, 5:25].any()
    assert np.array_equal(frame.image[30:], image[30:])
    # After a stage took the whole image, patches read and write that image.
    frame = Frame.from_av(yuv_frame(image, 1, 1), 0)
    frame.image[0:4, 0:4] = 9
    assert (frame.read_patch((0, 0, 2, 2)) == 9).all()


def test_read_image_is_read_only_and_becomes_the_image_only_when_asked():
    frame = Frame.from_av(yuv_frame(textured(), 1, 1), 0)
    view = frame.read_image()
    with pytest.raises(ValueError):
        view[0, 0] = 1
    assert not frame.has_pixels and frame.to_av() is frame.source
    box = frame.patch_box(0, 0, 8, 8)
    frame.write_patch(box, np.zeros((8, 8, 3), np.uint8))
    assert not frame.read_image()[:8, :8].any()  # the write is seen
    assert frame.image.flags.writeable and frame.has_pixels


@pytest.mark.parametrize("threads", ["SLICE", "AUTO"])  # AUTO: frame threads, as VideoReader
def test_writing_into_decoded_frames_leaves_the_decoders_references_alone(make_video, threads):
    path = make_video(size=(64, 48), pts=range(8))  # x264 with P frames: frame 0 is referenced
    with av.open(str(path)) as container:
        plain = [to_rgb(f) for f in container.decode(video=0)]
    frames: list[Frame] = []
    with av.open(str(path)) as container:
        container.streams.video[0].thread_type = threads
        for i, decoded in enumerate(container.decode(video=0)):
            frames.append(Frame.from_av(decoded, i))
            if i == 0:  # written while the decoder still has the later frames to decode
                box = frames[0].patch_box(0, 0, 64, 48)
                frames[0].write_patch(box, np.zeros((48, 64, 3), np.uint8))
    assert len(frames) == len(plain) and not frames[0].read_image().any()
    assert all(
        np.array_equal(f.read_image(), p) for f, p in zip(frames[1:], plain[1:], strict=True)
    )


class InvertBox:
    """Inverts one box through the patch API and records whether a whole image was made."""

    box = (16, 8, 40, 30)

    def __init__(self) -> None:
        self.whole_image: list[bool] = []

    def process(self, frame: Frame) -> Frame:
        box = frame.patch_box(*self.box)
        patch = frame.read_patch(box)
        frame.write_patch(box, 255 - patch, before=patch)
        self.whole_image.append(frame.has_pixels)
        return frame


def test_patches_reach_the_encoder_as_yuv_and_keep_frames_and_pts(make_video, tmp_path: Path):
    src = make_video(size=(64, 48), pts=[0, 2, 3, 7, 9, 12])
    out = tmp_path / "out.mp4"
    stage = InvertBox()
    lossless = EncoderOptions(crf=0, preset="ultrafast")  # x264 crf 0: lossless
    transcode(src, out, [stage], lossless, progress=False)
    assert stage.whole_image == [False] * 6
    with av.open(str(src)) as a, av.open(str(out)) as b:
        before = list(a.decode(video=0))
        after = list(b.decode(video=0))
    assert [f.pts for f in after] == [f.pts for f in before]
    x0, y0, x1, y1 = InvertBox.box
    for f, g in zip(before, after, strict=True):
        y_in, y_out = planes(f)[0].astype(int), planes(g)[0].astype(int)
        inside = np.zeros(y_in.shape, bool)
        inside[y0:y1, x0:x1] = True
        assert np.array_equal(y_out[~inside], y_in[~inside])  # bit-exact outside the box
        assert np.abs(y_out[inside] - y_in[inside]).mean() > 20  # inverted inside


def test_image_of_an_rgb_frame_does_not_share_its_memory() -> None:
    source = av.VideoFrame.from_ndarray(np.full((4, 6, 3), 10, np.uint8), format="rgb24")
    frame = Frame.from_av(source, index=0)
    frame.image[:] = 200
    assert int(source.to_ndarray()[0, 0, 0]) == 10
