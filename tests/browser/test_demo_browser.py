"""The demo page in headless Chromium with a fake camera, driven over the DevTools protocol.

Chromium plays a Y4M clip made here as its camera (a real talking head from
``../shared/data/videos`` when present, else a generated moving face), the page calls the
demo server over WebRTC, and the test checks that the swapped video plays, that its face
region differs from the camera's while the swap is on (and much less once it is off), and
that stats arrive over the data channel. A screenshot is saved for a person to look at
(in the test's tmp dir, and copied into ``$FACESTREAM_ARTIFACTS`` when that is set).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import av
import cv2
import numpy as np
import pytest
from aiohttp.test_utils import TestServer
from skimage import data

from facestream.demo.client import moving_face_frames
from facestream.demo.examples import example_image
from facestream.demo.server import DemoServer, ServerConfig

CHROMIUM = Path("/usr/bin/chromium")
SHARED_CLIP = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "videos"
    / "liveportrait"
    / "d3.mp4"
)
WIDTH, HEIGHT, FRAMES = 640, 480, 150

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is absent: run `make browser-deps` (apt-get install chromium)",
    ),
]


def clip_frames() -> tuple[str, list[np.ndarray]]:
    """640x480 RGB camera frames: the shared talking head if present, else a generated one."""
    if SHARED_CLIP.exists():
        frames = []
        with av.open(str(SHARED_CLIP)) as container:
            for frame in itertools.islice(container.decode(video=0), FRAMES):
                face = cv2.resize(frame.to_ndarray(format="rgb24"), (HEIGHT, HEIGHT))
                canvas = np.full((HEIGHT, WIDTH, 3), 100, np.uint8)
                canvas[:, (WIDTH - HEIGHT) // 2 : (WIDTH + HEIGHT) // 2] = face
                frames.append(canvas)
        return "shared talking head d3.mp4", frames
    # The head of the carphone example, centred and filling the frame's height, with gentle
    # motion: the page compares camera and returned video a few frames apart.
    head = example_image("carphone")[60:620, 150:640]
    generated = moving_face_frames(head, WIDTH, HEIGHT, face_height=HEIGHT, motion=0.25)
    return "generated moving face", list(itertools.islice(generated, FRAMES))


def write_y4m(path: Path, frames: list[np.ndarray]) -> None:
    """Write frames as the Y4M (I420) file Chromium's fake camera reads."""
    with av.open(str(path), "w", format="yuv4mpegpipe") as container:
        stream = container.add_stream("wrapped_avframe", rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


class DevTools:
    """Just enough of the Chrome DevTools protocol: call a method, await its result."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = json.loads((await self.ws.receive(timeout=30)).data)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def js(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")


# The returned video is some frames behind the camera, and faces move: so the page keeps
# the camera's last 1.5 s (its central face box, x 30-70 %, y 20-80 %, drawn at 160x120)
# and a returned frame is compared with the camera frame it matches best. Without a swap
# that best match differs by codec noise only; a swapped face (other eyes, brows, mouth,
# skin) differs from every camera frame.
SAMPLER_JS = """
(() => {
  const w = 160, h = 120, box = [48, 24, 64, 72];
  const grab = (id) => {
    const c = document.createElement("canvas"); c.width = w; c.height = h;
    const g = c.getContext("2d"); g.drawImage(document.getElementById(id), 0, 0, w, h);
    return g.getImageData(...box).data;
  };
  const history = [];
  setInterval(() => { history.push(grab("local")); if (history.length > 45) history.shift(); }, 33);
  window.faceDiff = () => {
    const b = grab("remote");
    let best = Infinity;
    for (const a of history) {
      let sum = 0;
      for (let i = 0; i < a.length; i += 4)
        sum += Math.abs(a[i] - b[i]) + Math.abs(a[i+1] - b[i+1]) + Math.abs(a[i+2] - b[i+2]);
      best = Math.min(best, sum / (a.length / 4 * 3));
    }
    return best;
  };
})()
"""


async def median_face_diff(devtools: DevTools, samples: int = 9) -> float:
    values = []
    for _ in range(samples):
        values.append(await devtools.js("window.faceDiff()"))
        await asyncio.sleep(0.3)
    return float(np.median(values))


async def wait_for(devtools: DevTools, expression: str, timeout: float, what: str) -> Any:
    guarded = f"(() => {{ try {{ return {expression}; }} catch (e) {{ return null; }} }})()"
    for _ in range(int(timeout / 0.25)):
        value = await devtools.js(guarded)
        if value:
            return value
        await asyncio.sleep(0.25)
    state = await devtools.js("document.getElementById('message').textContent")
    raise AssertionError(f"timed out waiting for {what}; page says: {state!r}")


def test_page_swaps_the_fake_camera_and_shows_stats(tmp_path: Path) -> None:
    origin, frames = clip_frames()
    clip = tmp_path / "clip.y4m"
    write_y4m(clip, frames)

    async def main() -> None:
        demo = DemoServer(ServerConfig())
        server = TestServer(demo.app(), host="127.0.0.1")
        await server.start_server()
        profile = tmp_path / "profile"
        url = f"http://127.0.0.1:{server.port}/?example=astronaut&autostart=1"
        browser = subprocess.Popen(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={clip}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1100,900",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = profile / "DevToolsActivePort"
            for _ in range(100):
                if port_file.exists() and port_file.read_text().strip():
                    break
                await asyncio.sleep(0.2)
            port = int(port_file.read_text().split()[0])
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json") as response:
                    targets = await response.json()
                page = next(t for t in targets if t["type"] == "page")
                async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    devtools = DevTools(ws)
                    await check_page(devtools, tmp_path, origin)
                    await check_source_uploads(devtools, tmp_path)
                    await check_first_visit(devtools, f"http://127.0.0.1:{server.port}/")
                    await check_token_needed(devtools)
        finally:
            browser.terminate()
            browser.wait(10)
            await server.close()
            shutil.rmtree(profile, ignore_errors=True)

    asyncio.run(main())


async def check_page(devtools: DevTools, tmp_path: Path, origin: str) -> None:
    remote = "document.getElementById('remote')"
    await wait_for(devtools, f"{remote}.videoWidth > 0", 60, "the swapped video")
    start = await devtools.js(f"{remote}.currentTime")
    await asyncio.sleep(2)
    assert await devtools.js(f"{remote}.currentTime") > start, "the remote video is frozen"
    stats = await wait_for(
        devtools,
        "window.facestream.stats && window.facestream.stats.frames_out > 10"
        " && window.facestream.stats",
        30,
        "stats over the data channel",
    )
    assert stats["fps"] > 0 and stats["latency_p95_ms"] > 0, stats
    await devtools.js(SAMPLER_JS)
    await asyncio.sleep(1.6)  # fill the camera history
    diff_on = await median_face_diff(devtools)
    screenshot = tmp_path / "demo_page.png"
    shot = await devtools.call("Page.captureScreenshot", format="png")
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    if os.environ.get("FACESTREAM_ARTIFACTS"):
        shutil.copy(screenshot, Path(os.environ["FACESTREAM_ARTIFACTS"]) / screenshot.name)
    # Swap off: the remote video is the camera again (up to codec loss and a few frames of
    # delay), so the face box must differ much less than with the swap on.
    await devtools.js("document.getElementById('swap').click()")
    await wait_for(
        devtools, "window.facestream.options && !window.facestream.options.swap", 10, "swap off"
    )
    await asyncio.sleep(1.5)
    diff_off = await median_face_diff(devtools)
    print(
        f"\n[{origin}] face-box difference swap on {diff_on:.1f}, off {diff_off:.1f};"
        f" stats {stats}; screenshot {screenshot}"
    )
    assert diff_on > 3 * diff_off and diff_on > 6, (diff_on, diff_off)


def soft_photo() -> np.ndarray:
    """The astronaut's head shrunk to 35 px between the eyes and enlarged 4x: enrollment
    (on the shipped landmarks) measures the detail of a face about 37 px, soft (30-50)."""
    head = data.astronaut()[0:260, 100:360]
    small = cv2.resize(head, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)


async def upload(devtools: DevTools, path: Path) -> None:
    """Choose ``path`` in the page's photo input, as a user picking a file would."""
    photo = await devtools.call("Runtime.evaluate", expression="document.getElementById('photo')")
    await devtools.call(
        "DOM.setFileInputFiles", files=[str(path)], objectId=photo["result"]["objectId"]
    )


async def check_source_uploads(devtools: DevTools, tmp_path: Path) -> None:
    """During the call: a blurred photo is refused with its sentence (an error); a soft one
    is used, and enrollment's warning shows beside the source as a note, not an error."""
    status = "document.getElementById('source-status')"
    blurred = tmp_path / "blurred_carphone.png"
    cv2.imwrite(str(blurred), cv2.cvtColor(example_image("carphone"), cv2.COLOR_RGB2BGR))
    await upload(devtools, blurred)
    refusal = await wait_for(
        devtools,
        f"{status}.classList.contains('error') && {status}.textContent",
        30,
        "the blurred photo's refusal",
    )
    assert "blurred_carphone.png is blurred" in refusal, refusal
    assert await devtools.js("document.getElementById('source-warnings').hidden")
    soft = tmp_path / "soft_astronaut.png"
    cv2.imwrite(str(soft), cv2.cvtColor(soft_photo(), cv2.COLOR_RGB2BGR))
    await upload(devtools, soft)
    warnings = await wait_for(
        devtools,
        "window.facestream.sourceWarnings.some((w) => w.includes('soft_astronaut.png'))"
        " && window.facestream.sourceWarnings",
        30,
        "the soft photo's warning",
    )
    assert len(warnings) == 1 and "soft_astronaut.png is soft" in warnings[0], warnings
    assert await devtools.js(f"{status}.textContent.startsWith('ready')")
    assert not await devtools.js(f"{status}.classList.contains('error')")
    shown = await devtools.js(
        "(() => { const e = document.getElementById('source-warnings');"
        " return !e.hidden && e.offsetHeight > 0 && e.textContent; })()"
    )
    assert shown == warnings[0], shown
    # The swap back on (check_page left it off), so the screenshot shows the soft face.
    await devtools.js("document.getElementById('swap').click()")
    await wait_for(
        devtools, "window.facestream.options && window.facestream.options.swap", 10, "swap on"
    )
    await asyncio.sleep(1.5)
    screenshot = tmp_path / "demo_page_soft_source.png"
    shot = await devtools.call("Page.captureScreenshot", format="png")
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    if os.environ.get("FACESTREAM_ARTIFACTS"):
        shutil.copy(screenshot, Path(os.environ["FACESTREAM_ARTIFACTS"]) / screenshot.name)
    print(f"\nsoft source warned: {warnings[0]!r}; screenshot {screenshot}")


async def check_first_visit(devtools: DevTools, url: str) -> None:
    """A visitor with no query string: the first example is chosen and the page says what
    to do, so pressing Start camera alone shows a swap."""
    await devtools.call("Page.navigate", url=url)
    await wait_for(
        devtools, "document.getElementById('example').options.length > 1", 10, "examples"
    )
    chosen = await devtools.js("document.getElementById('example').value")
    first = await devtools.js("document.getElementById('example').options[1].value")
    assert chosen == first and chosen, (chosen, first)
    message = await devtools.js("document.getElementById('message').textContent")
    assert "Start camera" in message, message


async def check_token_needed(devtools: DevTools) -> None:
    """Opened without the token a server asks for, the page says so instead of failing."""
    server = TestServer(DemoServer(ServerConfig(token="s3cret")).app(), host="127.0.0.1")
    await server.start_server()
    try:
        await devtools.call("Page.navigate", url=f"http://127.0.0.1:{server.port}/")
        message = await wait_for(
            devtools, "document.getElementById('message').textContent", 10, "the page's message"
        )
        assert "needs its token" in message, message
        assert await devtools.js("document.getElementById('start').disabled")
        assert await devtools.js("document.getElementById('example').options.length") == 0
    finally:
        await server.close()
