"""The demo server over loopback: signaling, calls with an aiortc client, and its defences."""

from __future__ import annotations

import argparse
import asyncio
import struct
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import aiohttp
import cv2
import numpy as np
import pytest
from aiohttp.test_utils import TestServer
from test_swap_enroll import enlarged, face, face_photo
from test_swap_hair import placed, with_fringe

from facestream.demo import server as demo_server
from facestream.demo.client import MovingFaceTrack, start_call
from facestream.demo.examples import example_image
from facestream.demo.images import UploadError, decode_photo, image_kind_and_size
from facestream.demo.server import (
    TOKEN_HEADER,
    DemoServer,
    ServerConfig,
    add_arguments,
    config_from_args,
    is_loopback,
)
from facestream.stream.live_chain import LiveChain


@asynccontextmanager
async def running(config: ServerConfig) -> AsyncIterator[tuple[str, DemoServer]]:
    demo = DemoServer(config)
    server = TestServer(demo.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), demo
    finally:
        await server.close()


def png_bytes(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image[:, :, ::-1])
    assert ok
    return data.tobytes()


def fake_png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims a size (the pixel data is a tiny valid stream)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 64


async def post_source(
    http: aiohttp.ClientSession, base: str, client: str, **fields: bytes | str
) -> tuple[int, dict]:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("client", client)
    for name, value in fields.items():
        if isinstance(value, bytes):
            form.add_field(name, value, filename="face.png", content_type="image/png")
        else:
            form.add_field(name, value)
    async with http.post(f"{base}/source", data=form) as response:
        return response.status, await response.json()


def test_call_round_trip_swaps_streams_stats_and_frees_the_peer() -> None:
    async def main() -> None:
        async with running(ServerConfig()) as (base, demo), aiohttp.ClientSession() as http:
            async with http.post(f"{base}/session") as response:
                client = (await response.json())["client"]
            status, reply = await post_source(http, base, client, example="astronaut")
            assert status == 200, reply
            camera = MovingFaceTrack(example_image("carphone"))
            call = await start_call(base, camera, http, client=client)
            assert call.client == client and demo.peers == 1
            remote = await asyncio.wait_for(call.remote, 10)
            frame = await asyncio.wait_for(remote.recv(), 15)
            assert (frame.width, frame.height) == (640, 480)
            for _ in range(30):
                if call.stats() and call.stats()[-1]["frames_out"] > 0:
                    break
                await asyncio.sleep(0.2)
            assert call.stats(), "no stats arrived over the data channel"
            call.channel.send('{"swap": false, "smoothing": "off"}')
            call.channel.send('{"smoothing": "wobbly"}')
            call.channel.send("not json")
            for _ in range(20):
                if sum(m["type"] in ("options", "error") for m in call.messages) >= 3:
                    break
                await asyncio.sleep(0.1)
            options = [m for m in call.messages if m["type"] == "options"]
            errors = [m for m in call.messages if m["type"] == "error"]
            assert options and options[0]["swap"] is False and options[0]["smoothing"] == "off"
            assert len(errors) == 2
            assert any("smoothing must be one of" in e["message"] for e in errors)
            assert any("not JSON" in e["message"] for e in errors)
            session = demo.sessions[client]
            await call.close()
            camera.stop()
            for _ in range(50):
                if not demo.sessions:
                    break
                await asyncio.sleep(0.1)
            assert demo.peers == 0 and not demo.sessions
            assert session.track is not None and session.track.readyState == "ended"

    asyncio.run(main())


def test_malformed_offers_get_400_and_the_server_keeps_serving() -> None:
    async def main() -> None:
        async with running(ServerConfig()) as (base, demo), aiohttp.ClientSession() as http:
            bad = [
                dict(data=b"{not json"),
                dict(json=["sdp"]),
                dict(json={"type": "offer"}),
                dict(json={"sdp": "v=0", "type": "answer"}),
                dict(json={"sdp": "hello, I am not SDP", "type": "offer"}),
            ]
            for kwargs in bad:
                async with http.post(f"{base}/offer", **kwargs) as response:
                    assert response.status == 400, kwargs
                    assert (await response.json())["error"]
            assert demo.peers == 0 and not demo.sessions
            camera = MovingFaceTrack(example_image("astronaut"), 160, 120)
            call = await start_call(base, camera, http)
            assert demo.peers == 1
            await call.close()
            camera.stop()

    asyncio.run(main())


def test_peer_cap_refuses_with_503() -> None:
    async def main() -> None:
        async with (
            running(ServerConfig(max_peers=1)) as (base, demo),
            aiohttp.ClientSession() as http,
        ):
            face = example_image("astronaut")
            first = await start_call(base, MovingFaceTrack(face, 160, 120), http)
            with pytest.raises(RuntimeError, match=r"503.*busy"):
                await start_call(base, MovingFaceTrack(face, 160, 120), http)
            assert demo.peers == 1
            await first.close()

    asyncio.run(main())


def test_token_is_required_when_configured_and_generated_off_loopback() -> None:
    async def main() -> None:
        async with (
            running(ServerConfig(token="s3cret")) as (base, _),
            aiohttp.ClientSession() as http,
        ):
            async with http.get(f"{base}/") as response:
                assert response.status == 200  # the page itself carries no secret
            for headers in ({}, {TOKEN_HEADER: "wrong"}):
                async with http.post(f"{base}/session", headers=headers) as response:
                    assert response.status == 401
            async with http.post(f"{base}/offer", json={}) as response:
                assert response.status == 401
            async with http.post(f"{base}/session", headers={TOKEN_HEADER: "s3cret"}) as response:
                assert response.status == 200

    asyncio.run(main())
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args([])).token is None
    assert config_from_args(parser.parse_args(["--host", "0.0.0.0"])).token
    assert config_from_args(parser.parse_args(["--host", "::", "--token", "t"])).token == "t"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")


def test_upload_limits_type_and_pixel_cap() -> None:
    async def main() -> None:
        config = ServerConfig(max_upload_bytes=200_000, max_pixels=1000 * 1000)
        async with running(config) as (base, _), aiohttp.ClientSession() as http:
            async with http.post(f"{base}/session") as response:
                client = (await response.json())["client"]
            face = png_bytes(example_image("astronaut"))
            assert len(face) > 200_000
            status, reply = await post_source(http, base, client, photo=face)
            assert status == 413 and "MiB" in reply["error"]
            status, reply = await post_source(http, base, client, photo=b"GIF89a" + b"\0" * 99)
            assert status == 415 and "JPEG or PNG" in reply["error"]
            status, reply = await post_source(
                http, base, client, photo=fake_png_header(40000, 40000)
            )
            assert status == 400 and "40000x40000" in reply["error"]
            astronaut = example_image("astronaut")
            ok, small = cv2.imencode(".jpg", astronaut[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
            small = small.tobytes()
            assert ok and len(small) < 200_000
            status, reply = await post_source(http, base, "nobody", photo=small)
            assert status == 404
            status, reply = await post_source(http, base, client, example="../../etc/passwd")
            assert status == 400
            status, reply = await post_source(http, base, client, photo=small)
            assert status == 200 and reply["size"] == [astronaut.shape[1], astronaut.shape[0]]
            async with http.post(f"{base}/source", json={"client": client}) as response:
                assert response.status == 400

    asyncio.run(main())


def test_only_the_fixed_static_files_are_served() -> None:
    async def main() -> None:
        async with running(ServerConfig()) as (base, _), aiohttp.ClientSession() as http:
            for path in ("/", "/static/app.js", "/static/style.css"):
                async with http.get(base + path) as response:
                    assert response.status == 200, path
            for path in (
                "/static/../server.py",
                "/static/%2e%2e/server.py",
                "/static/..%2fserver.py",
                "/static/server.py",
                "/static/",
                "/index.html/../../pyproject.toml",
            ):
                url = aiohttp.client.URL(base + path, encoded=True)
                async with http.get(url) as response:
                    assert response.status == 404, path
                    assert b"import" not in await response.read()

    asyncio.run(main())


def test_header_sizes_are_read_without_decoding() -> None:
    image = np.zeros((37, 53, 3), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert image_kind_and_size(jpeg.tobytes()) == ("jpeg", 53, 37)
    assert image_kind_and_size(png_bytes(image)) == ("png", 53, 37)
    assert decode_photo(png_bytes(image)).shape == (37, 53, 3)
    with pytest.raises(UploadError, match="truncated"):
        image_kind_and_size(jpeg.tobytes()[:20])
    with pytest.raises(UploadError, match="pixels"):
        decode_photo(fake_png_header(5000, 5000), max_pixels=1000)


def test_a_camera_that_stops_is_reported_and_other_peers_keep_going() -> None:
    async def main() -> None:
        async with running(ServerConfig()) as (base, demo), aiohttp.ClientSession() as http:
            face = example_image("astronaut")
            camera_a, camera_b = MovingFaceTrack(face, 160, 120), MovingFaceTrack(face, 160, 120)
            call_a = await start_call(base, camera_a, http)
            call_b = await start_call(base, camera_b, http)
            remote_b = await asyncio.wait_for(call_b.remote, 10)
            await asyncio.wait_for(remote_b.recv(), 15)
            camera_a.stop()  # A's camera stops: its sender goes quiet, the call stays up
            for _ in range(60):
                if any(m["type"] == "event" for m in call_a.messages):
                    break
                await asyncio.sleep(0.1)
            events = [m["message"] for m in call_a.messages if m["type"] == "event"]
            assert events == ["the camera stopped sending video"]
            await call_a.close()  # A leaves mid-call
            before = len(call_b.stats())
            frames = [await asyncio.wait_for(remote_b.recv(), 5) for _ in range(10)]
            assert len(frames) == 10 and demo.peers == 1
            await asyncio.sleep(1.0)
            assert len(call_b.stats()) > before
            assert not any(m["type"] == "event" for m in call_b.messages)
            await call_b.close()
            camera_b.stop()

    asyncio.run(main())


def test_a_source_photo_without_a_face_is_refused_with_the_reason() -> None:
    async def main() -> None:
        async with running(ServerConfig()) as (base, _), aiohttp.ClientSession() as http:
            async with http.post(f"{base}/session") as response:
                client = (await response.json())["client"]
            blank = png_bytes(np.full((240, 240, 3), 120, np.uint8))
            status, reply = await post_source(http, base, client, photo=blank)
            assert status == 422 and "no face was found" in reply["error"], reply
            assert "face.png" in reply["error"]
            status, reply = await post_source(http, base, client, example="astronaut-mirrored")
            assert status == 200, reply

    asyncio.run(main())


class DrawnFaceLandmarks:
    """The landmarks of a drawn test face (`test_swap_enroll.face_photo`): its points."""

    name = "drawn"

    def __init__(self, points: np.ndarray) -> None:
        self.points = points

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        return [self.points]


def test_source_warnings_come_back_with_the_face_and_a_blurred_one_is_refused(monkeypatch) -> None:
    points = face(300, 60, 80)  # 114 px between the eyes
    sharp = face_photo(points)
    landmarks = DrawnFaceLandmarks(points)
    monkeypatch.setattr(demo_server, "LiveChain", partial(LiveChain, landmarks=landmarks))

    async def main() -> None:
        async with running(ServerConfig()) as (base, _), aiohttp.ClientSession() as http:
            async with http.post(f"{base}/session") as response:
                client = (await response.json())["client"]
            status, reply = await post_source(http, base, client, photo=png_bytes(sharp))
            assert status == 200 and reply["warnings"] == [], reply
            # Enlarged 4x: the command line warns that the face is soft; so does the reply.
            soft = png_bytes(enlarged(sharp, 4))
            status, reply = await post_source(http, base, client, photo=soft)
            assert status == 200, reply
            assert len(reply["warnings"]) == 1, reply
            assert reply["warnings"][0].startswith("the face in the source photo face.png is soft")
            # Enlarged 8x: refused, with the sentence saying why.
            blurred = png_bytes(enlarged(sharp, 8))
            status, reply = await post_source(http, base, client, photo=blurred)
            assert status == 422, reply
            assert "face.png is blurred" in reply["error"] and "sharper photo" in reply["error"]
            # Hair over the forehead: warned of too.
            landmarks.points = placed()
            fringe, _ = with_fringe(landmarks.points)
            status, reply = await post_source(http, base, client, photo=png_bytes(fringe))
            assert status == 200, reply
            assert len(reply["warnings"]) == 1, reply
            assert reply["warnings"][0].startswith("hair covers ")
            assert "of the forehead in the source photo face.png:" in reply["warnings"][0]

    asyncio.run(main())


def test_audio_comes_back_untouched_beside_the_swapped_video() -> None:
    from aiortc import AudioStreamTrack

    async def main() -> None:
        async with running(ServerConfig()) as (base, _), aiohttp.ClientSession() as http:
            camera, microphone = (
                MovingFaceTrack(example_image("astronaut"), 160, 120),
                AudioStreamTrack(),
            )
            call = await start_call(base, camera, http, audio=microphone)
            audio = await asyncio.wait_for(call.remote_audio, 10)
            frame = await asyncio.wait_for(audio.recv(), 10)
            assert frame.sample_rate > 0 and frame.samples > 0
            video = await asyncio.wait_for(call.remote, 10)
            await asyncio.wait_for(video.recv(), 10)
            await call.close()
            camera.stop()
            microphone.stop()

    asyncio.run(main())


VANISHING_CLIENT = """
import asyncio, sys, aiohttp
from facestream.demo.client import MovingFaceTrack, start_call
from facestream.demo.examples import example_image

async def main():
    async with aiohttp.ClientSession() as http:
        camera = MovingFaceTrack(example_image("astronaut"), 160, 120)
        call = await start_call(sys.argv[1], camera, http)
        await (await call.remote).recv()
        print("receiving", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


def test_a_peer_that_vanishes_is_freed_and_the_others_keep_going(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess
    import sys

    import aioice.ice

    # ICE consent (RFC 7675) is how a vanished peer is noticed: every 5 s in aioice, 6 misses.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)

    async def main() -> None:
        async with running(ServerConfig()) as (base, demo), aiohttp.ClientSession() as http:
            camera = MovingFaceTrack(example_image("astronaut"), 160, 120)
            stays = await start_call(base, camera, http)
            remote = await asyncio.wait_for(stays.remote, 10)
            vanishing = await asyncio.create_subprocess_exec(
                sys.executable, "-c", VANISHING_CLIENT, base, stdout=subprocess.PIPE
            )
            assert vanishing.stdout is not None
            line = await asyncio.wait_for(vanishing.stdout.readline(), 60)
            assert line.strip() == b"receiving" and demo.peers == 2
            vanishing.kill()  # no goodbye: no DTLS close, no SCTP abort
            await vanishing.wait()
            deadline = time.monotonic() + 20
            while demo.peers == 2 and time.monotonic() < deadline:
                await remote.recv()  # the staying peer keeps receiving meanwhile
            print(f"vanished peer freed after {20 - (deadline - time.monotonic()):.1f} s")
            assert demo.peers == 1 and len(demo.sessions) == 1
            await asyncio.wait_for(remote.recv(), 5)
            await stays.close()
            camera.stop()

    asyncio.run(main())
