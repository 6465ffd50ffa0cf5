"""One video frame on its way through the pipeline, and the stage interface."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol, runtime_checkable

import av
import cv2
import numpy as np


@dataclass
class Frame:
    """A decoded video frame with its timing and the faces found in it.

    The RGB image is made from the decoded ``av.VideoFrame`` only when a stage first asks for
    ``image``, so a pipeline whose stages never touch pixels pays no colour conversion and
    the encoder receives the decoder's frame as it was. Stages that only look use
    ``read_image`` (the frame stays the decoder's); stages that change a few regions use
    ``read_patch``/``write_patch``, which convert only those boxes and write them back into
    the decoded frame's own YUV planes, so the encoder still gets a YUV frame.

    Example:
        >>> import av, numpy as np
        >>> vf = av.VideoFrame.from_ndarray(np.zeros((4, 6, 3), np.uint8), format="rgb24")
        >>> vf.pts, vf.time_base = 0, Fraction(1, 25)
        >>> Frame.from_av(vf, index=0).image.shape
        (4, 6, 3)
        >>> frame = Frame.from_av(vf.reformat(format="yuv420p"), index=0)
        >>> box = frame.patch_box(1, 1, 4, 3)  # snapped to the 4:2:0 chroma grid
        >>> patch = frame.read_patch(box)
        >>> frame.write_patch(box, 255 - patch, before=patch)
        >>> box, frame.has_pixels  # the encoder still gets the YUV frame
        ((0, 0, 4, 4), False)
    """

    pts: int | None
    time_base: Fraction | None
    index: int
    # FaceLandmarks (facestream.models.engine) per face, filled by the landmark stage.
    faces: list[Any] = field(default_factory=list)
    source: av.VideoFrame | None = None
    _image: np.ndarray | None = field(default=None, repr=False)
    # The whole frame converted for reading (read_image), until a patch is written.
    _read: np.ndarray | None = field(default=None, repr=False)
    # The source's buffers are this frame's own (copied from the decoder's on first write).
    _writable: bool = field(default=False, repr=False)

    @classmethod
    def from_av(cls, video_frame: av.VideoFrame, index: int) -> Frame:
        """Wrap a decoded frame, keeping its pts and time_base."""
        return cls(
            pts=video_frame.pts, time_base=video_frame.time_base, index=index, source=video_frame
        )

    @property
    def image(self) -> np.ndarray:
        """The frame as a C-contiguous ``(H, W, 3)`` uint8 RGB array (converted on first use)."""
        if self._image is None:
            if self.source is None:
                raise ValueError("this frame has neither an image nor a decoded source frame")
            # The conversion made for reading, if still current, becomes the frame's image.
            self._image = self._read if self._read is not None else to_rgb(self.source)
            self._read = None
        return self._image

    @image.setter
    def image(self, value: np.ndarray) -> None:
        if value.dtype != np.uint8 or value.ndim != 3 or value.shape[2] != 3:
            raise ValueError(
                f"a frame image must be uint8 (H, W, 3), not {value.dtype}{value.shape}"
            )
        self._image = np.ascontiguousarray(value)

    @property
    def has_pixels(self) -> bool:
        """True once the RGB image exists, i.e. a stage may have changed any pixel (patches
        written with ``write_patch`` go into the decoded frame and do not set it)."""
        return self._image is not None

    def read_image(self) -> np.ndarray:
        """The whole frame as a read-only RGB array, for stages that only look (detectors).

        Unlike ``image`` it leaves the decoded frame as the frame's pixels, so the encoder
        is not handed an RGB frame to convert back. Do not keep the array past the stage.
        """
        if self._image is None and self._read is None:
            if self.source is None:
                raise ValueError("this frame has neither an image nor a decoded source frame")
            self._read = to_rgb(self.source)
        pixels = self._image if self._image is not None else self._read
        assert pixels is not None
        view = pixels.view()
        view.flags.writeable = False
        return view

    def patch_box(self, x0: int, y0: int, x1: int, y1: int) -> Box:
        """The box ``x0 y0 x1 y1`` (pixels, x1 y1 exclusive) widened to whole chroma samples
        of the decoded frame (even coordinates for 4:2:0) and clipped to the frame."""
        h, w = self.shape
        sx, sy = self._chroma_shift() or (0, 0)
        x0, y0 = max(x0, 0) >> sx << sx, max(y0, 0) >> sy << sy
        x1, y1 = -(-x1 >> sx) << sx, -(-y1 >> sy) << sy
        return x0, y0, max(min(x1, w), x0), max(min(y1, h), y0)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the frame."""
        if self._image is not None:
            return self._image.shape[0], self._image.shape[1]
        if self.source is None:
            raise ValueError("this frame has neither an image nor a decoded source frame")
        return self.source.height, self.source.width

    def read_patch(self, box: Box) -> np.ndarray:
        """A writable RGB copy ``(y1 - y0, x1 - x0, 3)`` of the box (from `patch_box`).

        Only the box is converted, with the decoded frame's colour matrix and range, giving
        the same pixels as the same box of ``image``.
        """
        x0, y0, x1, y1 = self._check_box(box)
        if not self._patches_go_to_source():
            return self.image[y0:y1, x0:x1].copy()
        if self._read is not None:  # the whole frame is already converted (read_image)
            return self._read[y0:y1, x0:x1].copy()
        assert self.source is not None
        patch = av.VideoFrame(x1 - x0, y1 - y0, self.source.format.name)
        for whole, part in zip(
            _planes(self.source, (x0, y0, x1, y1), self._chroma_shift()),
            _planes(patch, None, None),
            strict=True,
        ):
            part[...] = whole
        copy_colour_tags(self.source, patch)
        return to_rgb(patch)

    @contextmanager
    def edit_patch(self, box: Box) -> Iterator[np.ndarray]:
        """``read_patch`` the box, let the block change it in place, then ``write_patch`` it
        back (only the pixels the block changed)."""
        patch = self.read_patch(box)
        before = patch.copy()
        yield patch
        self.write_patch(box, patch, before)

    def write_patch(self, box: Box, rgb: np.ndarray, before: np.ndarray | None = None) -> None:
        """Write an RGB patch over the box (from `patch_box`).

        Without an RGB ``image`` the patch is converted with the decoded frame's colour
        matrix and range and written into a copy of its YUV planes, so the encoder gets a
        YUV frame with only the box rewritten.

        Args:
            box: the box the patch covers.
            rgb: uint8 ``(y1 - y0, x1 - x0, 3)``.
            before: the patch as `read_patch` gave it; only the pixels that differ from it
                are written (chroma: the samples any such pixel shares), so pixels left
                alone keep their exact decoded values. None writes the whole box.
        """
        x0, y0, x1, y1 = self._check_box(box)
        if rgb.dtype != np.uint8 or rgb.shape != (y1 - y0, x1 - x0, 3):
            raise ValueError(
                f"a patch for box {box} must be uint8 {(y1 - y0, x1 - x0, 3)}, "
                f"not {rgb.dtype}{rgb.shape}"
            )
        if not self._patches_go_to_source():
            self.image[y0:y1, x0:x1] = rgb
            return
        changed = None
        if before is not None:
            # Per pixel, any channel (OpenCV: numpy's any over a length-3 axis is slow).
            red, green, blue = cv2.split(cv2.absdiff(rgb, before))
            changed = cv2.bitwise_or(cv2.bitwise_or(red, green), blue) > 0
            rows = np.flatnonzero(changed.any(axis=1))
            if not rows.size:
                return
            cols = np.flatnonzero(changed.any(axis=0))
            # Convert only the box around the changed pixels, with a margin: the chroma
            # filter reads neighbours, so a changed pixel at the edge would convert unlike
            # the same pixel inside a whole frame.
            m = _CONVERSION_MARGIN
            sx0, sy0, sx1, sy1 = self.patch_box(
                max(x0 + int(cols[0]) - m, x0),
                max(y0 + int(rows[0]) - m, y0),
                min(x0 + int(cols[-1]) + 1 + m, x1),
                min(y0 + int(rows[-1]) + 1 + m, y1),
            )
            inner = np.s_[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]
            rgb, changed = rgb[inner], changed[inner]
            x0, y0, x1, y1 = sx0, sy0, sx1, sy1
        self._write_yuv((x0, y0, x1, y1), rgb, changed)

    def _write_yuv(self, box: Box, rgb: np.ndarray, changed: np.ndarray | None) -> None:
        """Convert ``rgb`` to the source's format and write it (where ``changed``) into the
        source's planes over ``box``."""
        assert self.source is not None
        if not self._writable:
            # The decoder may still reference these buffers (reference frames): copy first.
            self.source.make_writable()
            self._writable = True
        self._read = None
        # Not swscale: on patches a 3x4 matrix and the same chroma filter in numpy are
        # several times faster, and differ from swscale by a level at most.
        y, u, v = cv2.split(cv2.transform(rgb, yuv_matrix(self.source)))
        shift = self._chroma_shift()
        chroma = None if changed is None else _subsample_any(changed, shift)
        planes = _planes(self.source, box, shift)
        parts = (y, _subsample_chroma(u, shift), _subsample_chroma(v, shift))
        for whole, part, where in zip(planes, parts, (changed, chroma, chroma), strict=True):
            if where is None:
                whole[...] = part
            else:
                np.copyto(whole, part, where=where)

    def _chroma_shift(self) -> tuple[int, int] | None:
        """log2 of the chroma subsampling (x, y) of a planar 8-bit YUV source, else None."""
        if self.source is None:
            return None
        fmt = self.source.format
        comps = fmt.components
        if (
            not fmt.name.startswith("yuv")
            or len(comps) != 3
            or any(c.bits != 8 for c in comps)
            or [c.plane for c in comps] != [0, 1, 2]
        ):
            return None
        shifts = []
        size = ((self.source.width, comps[1].width), (self.source.height, comps[1].height))
        for full, chroma in size:
            shift = next((s for s in (0, 1) if -(-full >> s) == chroma), None)
            if shift is None:
                return None
            shifts.append(shift)
        return shifts[0], shifts[1]

    def _patches_go_to_source(self) -> bool:
        """Patches are converted alone unless the RGB image already holds the pixels."""
        return self._image is None and self._chroma_shift() is not None

    def _check_box(self, box: Box) -> Box:
        x0, y0, x1, y1 = (int(v) for v in box)
        if (x0, y0, x1, y1) != self.patch_box(x0, y0, x1, y1) or x1 <= x0 or y1 <= y0:
            raise ValueError(f"box {box} is empty, outside the frame or not from patch_box")
        return x0, y0, x1, y1

    def to_av(self) -> av.VideoFrame:
        """The frame as an ``av.VideoFrame`` carrying this frame's pts and time_base.

        The decoded frame is returned untouched when no stage asked for pixels; otherwise the
        RGB image is wrapped and tagged with the source's colour metadata so the encoder
        converts it back with the same matrix and range.
        """
        if self._image is None:
            if self.source is None:
                raise ValueError("this frame has neither an image nor a decoded source frame")
            out = self.source
        else:
            out = av.VideoFrame.from_ndarray(self._image, format="rgb24")
            if self.source is not None:
                copy_colour_tags(self.source, out)
        out.pts = self.pts
        out.time_base = self.time_base
        return out


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1 and y1 exclusive
# Pixels converted around the changed ones of a patch (more than swscale's chroma filter
# reaches).
_CONVERSION_MARGIN = 8


def to_rgb(video_frame: av.VideoFrame) -> np.ndarray:
    """Convert a decoded frame to RGB with the frame's own colour matrix and range.

    One thread: decoding, the stages and encoding already run in parallel, and swscale's
    own thread pool per call cost more than it saved in our measurements. The array never
    shares the frame's memory (PyAV returns a view of an ``rgb24`` frame's plane), so
    drawing on it cannot change the decoded frame.
    """
    rgb = video_frame.to_ndarray(
        format="rgb24",
        src_colorspace=video_frame.colorspace or None,
        src_color_range=video_frame.color_range or None,
        dst_color_range="JPEG",
        threads=1,
    )
    return rgb.copy() if video_frame.format.name == "rgb24" else rgb


# Luma weights (Kr, Kb) by FFmpeg colorspace tag: BT.709, FCC, SMPTE 240M, BT.2020; any
# other tag (BT.601's two, unspecified) is BT.601, as in swscale.
_LUMA_WEIGHTS = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 7: (0.212, 0.087), 9: (0.2627, 0.0593)}


def yuv_matrix(video_frame: av.VideoFrame) -> np.ndarray:
    """The float32 ``(3, 4)`` matrix taking RGB (0-255) to this frame's Y, U, V levels:
    its colour matrix, and its range (full for the JPEG tag and the ``yuvj`` formats,
    limited otherwise)."""
    kr, kb = _LUMA_WEIGHTS.get(int(video_frame.colorspace), (0.299, 0.114))
    kg = 1.0 - kr - kb
    full = int(video_frame.color_range) == 2 or video_frame.format.name.startswith("yuvj")
    luma, chroma = (255.0, 255.0) if full else (219.0, 224.0)
    rows = np.array(
        [
            [kr, kg, kb],
            [-kr / (2 - 2 * kb), -kg / (2 - 2 * kb), 0.5],
            [0.5, -kg / (2 - 2 * kr), -kb / (2 - 2 * kr)],
        ]
    )
    matrix = np.zeros((3, 4))
    matrix[0, :3] = rows[0] * luma / 255
    matrix[1:, :3] = rows[1:] * chroma / 255
    matrix[:, 3] = (0.0 if full else 16.0, 128.0, 128.0)
    return matrix.astype(np.float32)


def _planes(
    video_frame: av.VideoFrame, box: Box | None, shift: tuple[int, int] | None
) -> list[np.ndarray]:
    """Views of a planar frame's Y, U and V planes, cut to ``box`` when given (the chroma
    planes to the samples covering it, ``shift`` being the chroma subsampling)."""
    views = []
    for index, plane in enumerate(video_frame.planes):
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        view = rows[:, : plane.width]
        if box is not None:
            x0, y0, x1, y1 = box
            sx, sy = shift if index and shift else (0, 0)
            view = view[y0 >> sy : -(-y1 >> sy), x0 >> sx : -(-x1 >> sx)]
        views.append(view)
    return views


def _subsample_chroma(plane: np.ndarray, shift: tuple[int, int] | None) -> np.ndarray:
    """A chroma plane ``(h, w)`` uint8 at full resolution subsampled as swscale does it:
    the mean of each pair of columns, and rows filtered 1-3-3-1 (edges repeated)."""
    sx, sy = shift or (0, 0)
    total = plane.astype(np.uint16)
    if sx:
        if total.shape[1] % 2:
            total = np.concatenate([total, total[:, -1:]], axis=1)
        total = total[:, 0::2] + total[:, 1::2]
    if sy:
        if total.shape[0] % 2:
            total = np.concatenate([total, total[-1:]])
        # Output row i: input rows 2i-1, 2i, 2i+1, 2i+2 (padded rows 2i .. 2i+3).
        total = np.concatenate([total[:1], total, total[-1:]])
        total = total[0:-2:2] + 3 * (total[1:-2:2] + total[2:-1:2]) + total[3::2]
    else:
        total *= 8
    scale = 8 << sx  # the weights' sum
    total += scale // 2
    total //= scale
    return total.astype(np.uint8)


def _subsample_any(mask: np.ndarray, shift: tuple[int, int] | None) -> np.ndarray:
    """Per chroma sample: whether any pixel it covers is set in ``mask``."""
    sx, sy = shift or (0, 0)
    if sy:
        mask = _pairs_any(mask)
    if sx:
        mask = _pairs_any(mask.T).T
    return mask


def _pairs_any(mask: np.ndarray) -> np.ndarray:
    """Rows 0|1, 2|3, ... of a boolean mask (a last odd row stays alone)."""
    out = mask[0::2].copy()
    odd = mask[1::2]
    out[: len(odd)] |= odd
    return out


def copy_colour_tags(src: av.VideoFrame, dst: av.VideoFrame) -> None:
    """Copy the colour tags (matrix, range, primaries, transfer) from one frame to another."""
    dst.colorspace = src.colorspace
    dst.color_range = src.color_range
    dst.color_primaries = src.color_primaries
    dst.color_trc = src.color_trc


@runtime_checkable
class FrameStage(Protocol):
    """A pipeline stage: a synchronous transform run off the event loop.

    ``process`` returns the frame it was given (changed in place or as a new Frame). A
    *buffering* stage, one that needs to see later frames first (fixed-lag smoothing),
    returns instead the list of frames it releases now, oldest first, possibly empty, and
    defines ``flush() -> list[Frame]``, which the pipeline calls once after the last frame
    to release the rest. Over a whole stream a stage releases every frame exactly once, in
    the order it came. A stage may also define ``close()``; the pipeline calls it once when
    the run ends (after ``flush``, and also after an error, when ``flush`` is not called).
    """

    def process(self, frame: Frame) -> Frame | list[Frame]:
        """Transform one frame and return it, or return the frames released now."""
        ...
