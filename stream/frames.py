"""One video frame on its way through the pipeline, and the stage interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol, runtime_checkable

import av
import numpy as np


@dataclass
class Frame:
    """A decoded video frame with its timing and the faces found in it.

    The RGB image is made from the decoded ``av.VideoFrame`` only when a stage first asks for
    ``image``, so a pipeline whose stages never touch pixels pays no colour conversion and
    the encoder receives the decoder's frame as it was.

    Example:
        >>> import av, numpy as np
        >>> vf = av.VideoFrame.from_ndarray(np.zeros((4, 6, 3), np.uint8), format="rgb24")
        >>> vf.pts, vf.time_base = 0, Fraction(1, 25)
        >>> Frame.from_av(vf, index=0).image.shape
        (4, 6, 3)
    """

    pts: int | None
    time_base: Fraction | None
    index: int
    # FaceLandmarks (facestream.models.engine) per face, filled by the landmark stage.
    faces: list[Any] = field(default_factory=list)
    source: av.VideoFrame | None = None
    _image: np.ndarray | None = field(default=None, repr=False)

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
            self._image = to_rgb(self.source)
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
        """True once the RGB image exists, i.e. a stage may have changed the pixels."""
        return self._image is not None

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


def to_rgb(video_frame: av.VideoFrame) -> np.ndarray:
    """Convert a decoded frame to RGB with the frame's own colour matrix and range."""
    return video_frame.to_ndarray(
        format="rgb24",
        src_colorspace=video_frame.colorspace or None,
        src_color_range=video_frame.color_range or None,
        dst_color_range="JPEG",
    )


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
