"""Provenance: the swap tag survives muxing in the common containers."""

from __future__ import annotations

import av
import numpy as np
import pytest

from facestream.filters.provenance import PROVENANCE_KEY, PROVENANCE_VALUE, provenance_for


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_provenance_tag_is_written_and_read_back(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    metadata, options = provenance_for(suffix)
    with av.open(str(path), "w", options=options) as container:
        container.metadata.update(metadata)
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with av.open(str(path)) as container:
        tags = {k.lower(): v for k, v in container.metadata.items()}
    assert tags[PROVENANCE_KEY] == PROVENANCE_VALUE
    assert "synthetic face swap" in tags["comment"]
