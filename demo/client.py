"""A minimal aiortc client for the demo server, and a synthetic moving-face camera.

Used by the tests and ``bench/live_load.py``; also a reference for writing a non-browser
client. ICE uses host candidates only, so a call to a local server never leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
import cv2
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)

from facestream.demo.server import TOKEN_HEADER


def moving_face_frames(
    face: np.ndarray,
    width: int = 640,
    height: int = 480,
    face_height: int = 300,
    motion: float = 1.0,
) -> Iterator[np.ndarray]:
    """Endless RGB frames of ``face`` gliding and nodding slowly over a plain background.

    The motion (a slow ellipse plus a small rotation, scaled by ``motion``) keeps trackers
    and smoothers honest without leaving the frame.
    """
    scale = face_height / face.shape[0]
    sprite = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    sh, sw = sprite.shape[:2]
    background = np.full((height, width, 3), (90, 110, 130), np.uint8)
    t = 0
    while True:
        cx = width / 2 + motion * 0.15 * width * np.sin(t / 40)
        cy = height / 2 + motion * 0.06 * height * np.sin(t / 25)
        angle = motion * 8 * np.sin(t / 30)
        matrix = cv2.getRotationMatrix2D((sw / 2, sh / 2), angle, 1.0)
        matrix[:, 2] += (cx - sw / 2, cy - sh / 2)
        frame = background.copy()
        cv2.warpAffine(
            sprite, matrix, (width, height), dst=frame, borderMode=cv2.BORDER_TRANSPARENT
        )
        yield frame
        t += 1


class MovingFaceTrack(VideoStreamTrack):
    """A fake camera: ``moving_face_frames`` at aiortc's 30 fps pace.

    Args:
        face: the RGB face photo to move around.
        width, height: the frame size.
    """

    def __init__(self, face: np.ndarray, width: int = 640, height: int = 480) -> None:
        super().__init__()
        self._frames = moving_face_frames(face, width, height, face_height=int(height * 0.6))

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(next(self._frames), format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


@dataclass
class DemoCall:
    """A call to the demo server: the peer, the returned video, and messages received."""

    pc: RTCPeerConnection
    client: str
    remote: asyncio.Future[MediaStreamTrack]
    remote_audio: asyncio.Future[MediaStreamTrack]
    channel: Any
    messages: list[dict[str, Any]] = field(default_factory=list)

    def stats(self) -> list[dict[str, Any]]:
        """The stats messages received so far."""
        return [m for m in self.messages if m.get("type") == "stats"]

    async def close(self) -> None:
        await self.pc.close()


async def start_call(
    base_url: str,
    track: MediaStreamTrack,
    http: aiohttp.ClientSession,
    *,
    client: str | None = None,
    token: str | None = None,
    audio: MediaStreamTrack | None = None,
) -> DemoCall:
    """Offer ``track`` (and ``audio``, if given) to the demo server and return the call.

    Raises:
        RuntimeError: the server refused the offer (its message is included).
    """
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    channel = pc.createDataChannel("control")
    loop = asyncio.get_running_loop()
    remote: asyncio.Future[MediaStreamTrack] = loop.create_future()
    remote_audio: asyncio.Future[MediaStreamTrack] = loop.create_future()
    call = DemoCall(pc=pc, client="", remote=remote, remote_audio=remote_audio, channel=channel)

    @channel.on("message")
    def on_message(message: str) -> None:
        call.messages.append(json.loads(message))

    @pc.on("track")
    def on_track(incoming: MediaStreamTrack) -> None:
        future = remote if incoming.kind == "video" else remote_audio
        if not future.done():
            future.set_result(incoming)

    pc.addTrack(track)
    if audio is not None:
        pc.addTrack(audio)
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers ICE here
    body = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    if client is not None:
        body["client"] = client
    headers = {TOKEN_HEADER: token} if token else {}
    async with http.post(f"{base_url}/offer", json=body, headers=headers) as response:
        reply = await response.json()
        if response.status != 200:
            await pc.close()
            raise RuntimeError(f"offer refused ({response.status}): {reply.get('error')}")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type=reply["type"]))
    call.client = reply["client"]
    return call
