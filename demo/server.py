"""Serve the WebRTC demo page: your camera in, the face-swapped video back.

Signaling follows aiortc's ``examples/server/server.py`` so any WebRTC client can use it:

- ``POST /session`` → ``{"client": id}``: a client id for a browser tab.
- ``POST /source`` (multipart: ``client`` and either ``photo`` (JPEG/PNG) or ``example``)
  sets that client's source face, before or during the call: ``{"ok": true, "size",
  "landmarks", "warnings": [str]}``, the warnings being what the command line would log
  about the face (a soft photo, hair over the forehead; the face is used all the same),
  or HTTP 422 ``{"error"}`` with the sentence saying why the face cannot be used.
- ``POST /offer`` with JSON ``{"sdp", "type", "client"?}`` answers ``{"sdp", "type",
  "client"}``; the video the client sends comes back face-swapped, its audio comes back
  as is. A data channel (any label) carries toggles in (``{"swap": bool, "overlay": bool,
  "smoothing": "kalman" | "flow" | "off"}``) and stats out (``{"type": "stats", ...}``, twice a
  second).

Security: binds to 127.0.0.1 unless told otherwise; a non-loopback bind requires a token
(generated and printed when not given) that every API call must present in the
``X-Facestream-Token`` header; photos are size- and type-checked before decoding; only a
fixed set of static files is served; the number of concurrent peers is capped (HTTP 503).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdatachannel import RTCDataChannel

from facestream.demo.examples import example_image, example_names
from facestream.demo.images import MAX_PIXELS, UploadError, decode_photo
from facestream.stream.errors import UserError
from facestream.stream.live_chain import LiveChain
from facestream.stream.live_track import FaceSwapTrack

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Facestream-Token"
STATS_INTERVAL_S = 0.5
# A call whose camera sent nothing for this long is told so (once per silence).
CAMERA_SILENCE_S = 3.0
# Sessions that never start a call are forgotten after this long.
PENDING_SESSION_TTL_S = 600.0
# The only files served, by URL path: (file in demo/static, content type).
STATIC_FILES = {
    "/": ("index.html", "text/html"),
    "/static/app.js": ("app.js", "text/javascript"),
    "/static/style.css": ("style.css", "text/css"),
}
LOOPBACK_HOSTS = {"localhost"}


@dataclass
class ServerConfig:
    """How the demo server runs.

    Attributes:
        token: the secret every API call must present; ``None`` for none (loopback only).
        max_peers: concurrent calls served; more get HTTP 503.
        max_upload_bytes: largest accepted source photo file.
        max_pixels: largest accepted source photo, in pixels (checked before decoding).
        ice_servers: STUN/TURN URLs; empty keeps ICE to host candidates (no traffic out).
        weights: HRNet-128 lite weights for the landmarks; ``None`` for the shipped ones.
    """

    token: str | None = None
    max_peers: int = 4
    max_upload_bytes: int = 8 * 1024 * 1024
    max_pixels: int = MAX_PIXELS
    ice_servers: list[str] = field(default_factory=list)
    weights: Path | None = None


@dataclass
class Session:
    """One browser tab: its chain (source + toggles) and, during a call, its peer."""

    id: str
    chain: LiveChain
    created: float
    pc: RTCPeerConnection | None = None
    track: FaceSwapTrack | None = None
    channel: RTCDataChannel | None = None
    stats_task: asyncio.Task[None] | None = None

    async def in_worker(self, fn: Any, *args: Any) -> Any:
        """Run chain work off the event loop, in order with the call's frames if any."""
        if self.track is not None and self.track.readyState == "live":
            return await self.track.call_in_worker(fn, *args)
        return await asyncio.to_thread(fn, *args)

    def send(self, message: dict[str, Any]) -> None:
        """Send a JSON message over the data channel when it is open."""
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(json.dumps(message))


def error(status: int, message: str) -> web.Response:
    """A JSON error response: ``{"error": message}``."""
    return web.json_response({"error": message}, status=status)


class DemoServer:
    """The demo's state: sessions by client id, and the request handlers."""

    def __init__(self, config: ServerConfig) -> None:
        import cv2
        import torch

        # Peers run in parallel, one worker thread each; torch's own intra-op threads on top
        # of that oversubscribe the cores (measured: 25 ms a frame becomes 150+ ms), and so
        # do OpenCV's beside the codecs' threads (less CPU and wall time with one).
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        self.config = config
        self.sessions: dict[str, Session] = {}
        self._static = {
            path: (resources.files("facestream.demo").joinpath("static", name).read_bytes(), ct)
            for path, (name, ct) in STATIC_FILES.items()
        }

    @property
    def peers(self) -> int:
        """Calls in progress."""
        return sum(1 for s in self.sessions.values() if s.pc is not None)

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(
            middlewares=[self._token_middleware],
            client_max_size=self.config.max_upload_bytes + 64 * 1024,
        )
        for path in STATIC_FILES:
            app.router.add_get(path, self.static)
        app.router.add_get("/examples", self.examples)
        app.router.add_post("/session", self.new_session)
        app.router.add_post("/source", self.source)
        app.router.add_post("/offer", self.offer)
        app.on_shutdown.append(self._shutdown)
        return app

    @web.middleware
    async def _token_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.config.token is not None and request.path not in STATIC_FILES:
            given = request.headers.get(TOKEN_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.config.token.encode()):
                return error(401, f"a valid {TOKEN_HEADER} header is required")
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return error(exc.status, exc.reason)
            raise

    async def static(self, request: web.Request) -> web.Response:
        body, content_type = self._static[request.path]
        return web.Response(body=body, content_type=content_type)

    async def examples(self, request: web.Request) -> web.Response:
        return web.json_response(example_names())

    def _create_session(self) -> Session:
        now = time.monotonic()
        for sid, s in list(self.sessions.items()):
            if s.pc is None and now - s.created > PENDING_SESSION_TTL_S:
                del self.sessions[sid]
        pending = sorted(
            (s for s in self.sessions.values() if s.pc is None), key=lambda s: s.created
        )
        # Bound the memory that tabs which never call can hold (each may keep a photo).
        for stale in pending[: max(0, len(pending) - 4 * self.config.max_peers + 1)]:
            del self.sessions[stale.id]
        chain = LiveChain(weights=self.config.weights)
        session = Session(id=secrets.token_urlsafe(16), chain=chain, created=now)
        self.sessions[session.id] = session
        return session

    async def new_session(self, request: web.Request) -> web.Response:
        return web.json_response({"client": self._create_session().id})

    async def source(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            return error(400, "send the source photo as multipart/form-data")
        fields: dict[str, bytes] = {}
        photo_name = ""
        try:
            reader = await request.multipart()
            async for part in reader:
                name = getattr(part, "name", None)
                if name not in ("client", "photo", "example") or name in fields:
                    return error(400, f"unexpected form field {name!r}")
                data = bytearray()
                while chunk := await part.read_chunk():  # type: ignore[union-attr]
                    data += chunk
                    if len(data) > self.config.max_upload_bytes:
                        limit = self.config.max_upload_bytes // (1024 * 1024)
                        return error(413, f"the photo is larger than {limit} MiB")
                fields[name] = bytes(data)
                if name == "photo":
                    # Only ever shown in messages; keep the base name, short.
                    photo_name = Path(getattr(part, "filename", None) or "photo").name[:80]
        except ValueError as exc:
            return error(400, f"malformed multipart body: {exc}")
        session = self.sessions.get(fields.get("client", b"").decode(errors="replace"))
        if session is None:
            return error(404, "unknown client id; call POST /session first")
        try:
            if "photo" in fields:
                # Off the event loop: decoding a large photo would stall every call's frames.
                image = await asyncio.to_thread(
                    decode_photo, fields["photo"], self.config.max_pixels
                )
            elif "example" in fields:
                name = fields["example"].decode(errors="replace")
                if name not in example_names():
                    return error(400, f"no example named {name!r}")
                image = await asyncio.to_thread(example_image, name)
                photo_name = f"example {name}"
            else:
                return error(400, "send a 'photo' file or an 'example' name")
        except UploadError as exc:
            return error(415 if "JPEG or PNG" in str(exc) else 400, str(exc))
        try:
            warnings = await session.in_worker(session.chain.set_source, image, photo_name)
        except UserError as exc:
            return error(422, str(exc))
        return web.json_response(
            {
                "ok": True,
                "size": [image.shape[1], image.shape[0]],
                "landmarks": session.chain.landmarks.name,
                "warnings": warnings,
            }
        )

    async def offer(self, request: web.Request) -> web.Response:
        try:
            params = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error(400, "the offer must be JSON {'sdp': ..., 'type': 'offer'}")
        if not isinstance(params, dict) or params.get("type") != "offer":
            return error(400, "the offer must be JSON with 'type': 'offer'")
        if not isinstance(params.get("sdp"), str) or not params["sdp"].strip():
            return error(400, "the offer has no SDP text")
        if self.peers >= self.config.max_peers:
            return error(503, f"the server is busy: {self.config.max_peers} calls in progress")
        client = params.get("client")
        session = self.sessions.get(client) if isinstance(client, str) else None
        if session is None:
            session = self._create_session()
        elif session.pc is not None:
            return error(409, "this client already has a call in progress")
        ice = [RTCIceServer(url) for url in self.config.ice_servers]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice))
        session.pc = pc
        self._wire(session, pc)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=params["sdp"], type="offer"))
            if not any(t.kind == "video" for t in pc.getTransceivers()):
                raise ValueError("it offers no video to swap")
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except Exception as exc:  # aiortc raises ValueError and friends on bad SDP
            await self._end_call(session)
            return error(400, f"the offer could not be used: {exc}")
        local = pc.localDescription
        return web.json_response({"sdp": local.sdp, "type": local.type, "client": session.id})

    def _wire(self, session: Session, pc: RTCPeerConnection) -> None:
        """Attach the peer's event handlers: tracks, data channel, state changes."""

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                pc.addTrack(track)  # audio passes through untouched
                return
            session.track = FaceSwapTrack(track, stages=[session.chain])
            pc.addTrack(session.track)

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            session.channel = channel
            session.stats_task = asyncio.ensure_future(self._send_stats(session))

            @channel.on("message")
            def on_message(message: Any) -> None:
                asyncio.ensure_future(self._apply_options(session, message))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("client %s: connection %s", session.id[:6], pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                await self._end_call(session)

    async def _apply_options(self, session: Session, message: Any) -> None:
        try:
            try:
                changes = json.loads(message)
            except (json.JSONDecodeError, TypeError):
                raise ValueError("not JSON") from None
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object of options")
            changes.pop("type", None)
            options = await session.in_worker(session.chain.set_options, changes)
        except ValueError as exc:
            session.send({"type": "error", "message": f"options refused: {exc}"})
            return
        session.send({"type": "options", **vars(options)})

    async def _send_stats(self, session: Session) -> None:
        silent = False
        while session.pc is not None:
            if session.track is not None:
                stats = session.track.stats
                session.send({"type": "stats", **stats.as_dict()})
                age = stats.input_age_s
                if age is not None and age > CAMERA_SILENCE_S and not silent:
                    session.send({"type": "event", "message": "the camera stopped sending video"})
                elif silent and age is not None and age < CAMERA_SILENCE_S:
                    session.send({"type": "event", "message": "the camera is sending again"})
                silent = age is not None and age > CAMERA_SILENCE_S
            await asyncio.sleep(STATS_INTERVAL_S)

    async def _end_call(self, session: Session) -> None:
        """Free everything a call holds; the session goes with it."""
        pc, session.pc = session.pc, None
        if session.stats_task is not None:
            session.stats_task.cancel()
        if session.track is not None:
            session.track.stop()
        else:
            session.chain.close()
        self.sessions.pop(session.id, None)
        if pc is not None:
            await pc.close()

    async def _shutdown(self, app: web.Application) -> None:
        await asyncio.gather(*(self._end_call(s) for s in list(self.sessions.values())))


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``facestream serve``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    parser.add_argument(
        "--token", help="secret the page must present; required off loopback (else generated)"
    )
    parser.add_argument("--max-peers", type=int, default=4, help="concurrent calls (default: 4)")
    parser.add_argument(
        "--max-upload-mb", type=float, default=8.0, help="largest source photo (default: 8)"
    )
    parser.add_argument(
        "--stun", action="append", default=[], help="STUN/TURN URL for ICE (repeatable)"
    )
    parser.add_argument(
        "--weights", type=Path, help="HRNet-128 lite weights (default: the shipped ones)"
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The server config for parsed arguments; generates a token off loopback if none."""
    if args.weights is not None and not args.weights.is_file():
        raise UserError(f"the landmark weights {args.weights} do not exist.")
    token = args.token
    if token is None and not is_loopback(args.host):
        token = secrets.token_urlsafe(16)
    return ServerConfig(
        token=token,
        max_peers=args.max_peers,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        ice_servers=list(args.stun),
        weights=args.weights,
    )


async def serve(host: str, port: int, config: ServerConfig) -> None:
    """Run the demo server until cancelled."""
    runner = web.AppRunner(DemoServer(config).app())
    freeze_startup_objects()
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        shown = "localhost" if is_loopback(host) else host
        if shown in ("0.0.0.0", "::"):  # every interface: name this machine instead
            shown = socket.gethostname()
        url = f"http://{shown}:{port}/"
        if config.token is not None:
            url += f"#token={config.token}"
        print(f"facestream demo at {url}  (Ctrl+C to stop)", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def freeze_startup_objects() -> None:
    """Keep the objects made at startup out of the garbage collector's full collections.

    Importing torch, aiortc and the models leaves about 220,000 long-lived objects. A full
    collection walks them all while holding the GIL: 160 ms measured in the middle of a
    call (a new peer's models loading set it off), during which no peer's frame moves.
    Frozen, they are skipped; what calls create later is still collected.
    """
    import facestream.filters.swap
    import facestream.models.detector
    import facestream.models.engine  # noqa: F401 -- imported to be frozen with the rest

    gc.collect()
    gc.freeze()


def run(args: argparse.Namespace) -> int:
    """Entry point of ``facestream serve``."""
    config = config_from_args(args)
    try:
        asyncio.run(serve(args.host, args.port, config))
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    except KeyboardInterrupt:
        pass
    return 0
