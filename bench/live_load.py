"""Load on the live demo server: N simultaneous aiortc peers on loopback at 640x480.

Starts ``facestream serve`` on 127.0.0.1 in a child process, then in each round opens
N = 1 .. ``--max-peers`` client peers at once, each sending a moving face at 30 fps
(``MovingFaceTrack``) and receiving the swapped video back. Per peer it reports the frame
rate received by the client, and from the server's own stats (over the data channel) the
output fps, the processing latency (receive -> send) p50/p95 and the frames dropped by
"latest wins"; then the median of each over the rounds, and the largest N whose median
per-peer fps holds the target.

The peer measured in the same run: one call with the swap switched off (the transport and
codec alone), run first in every round, against which the one-peer latency is given as a
ratio.

All traffic stays on 127.0.0.1; every run is bounded by ``--max-peers``, ``--rounds`` and
``--seconds``.

    .venv/bin/python bench/live_load.py --max-peers 3 --rounds 3 --seconds 8
    .venv/bin/python bench/live_load.py --chain-only 100   # the per-frame steps, no WebRTC
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

import aiohttp

from facestream.demo.client import DemoCall, MovingFaceTrack, start_call
from facestream.demo.examples import example_image

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def wait_until_up(base: str, http: aiohttp.ClientSession, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with http.get(f"{base}/examples") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.3)
    raise RuntimeError("the demo server did not start")


async def count_frames(call: DemoCall, times: list[float]) -> None:
    remote = await call.remote
    try:
        while True:
            await remote.recv()
            times.append(time.monotonic())
    except Exception:  # the call ended
        return


async def run_peers(
    base: str, http: aiohttp.ClientSession, n: int, seconds: float, swap: bool, source: str
) -> list[dict[str, Any]]:
    """Open ``n`` calls at once, measure ``seconds`` after a warm-up, close them all."""
    face = example_image("carphone")
    calls: list[DemoCall] = []
    cameras = []
    counters = []
    for _ in range(n):
        async with http.post(f"{base}/session") as response:
            client = (await response.json())["client"]
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("client", client)
        form.add_field("example", source)
        async with http.post(f"{base}/source", data=form) as response:
            if response.status != 200:
                raise RuntimeError(f"source refused: {await response.text()}")
        camera = MovingFaceTrack(face, 640, 480)
        call = await start_call(base, camera, http, client=client)
        times: list[float] = []
        calls.append(call)
        cameras.append(camera)
        counters.append((times, asyncio.ensure_future(count_frames(call, times))))
    for call in calls:
        await asyncio.wait_for(call.remote, 20)
    await asyncio.sleep(1.0)
    for call in calls:
        if call.channel.readyState == "open":
            call.channel.send(json.dumps({"swap": swap}))
    await asyncio.sleep(3.0)  # warm-up: codecs settle, first keyframes, stats window fills
    start = time.monotonic()
    first_stats = [c.stats()[-1] if c.stats() else None for c in calls]
    await asyncio.sleep(seconds)
    end = time.monotonic()
    results = []
    for call, (times, _task), first in zip(calls, counters, first_stats, strict=True):
        received = [t for t in times if start <= t < end]
        last = call.stats()[-1] if call.stats() else {}
        results.append(
            {
                "client_fps": len(received) / (end - start),
                "server": last,
                "p95_first_ms": (first or {}).get("latency_p95_ms"),
            }
        )
    for call, camera in zip(calls, cameras, strict=True):
        await call.close()
        camera.stop()
    for _times, task in counters:
        task.cancel()
    await asyncio.sleep(1.0)  # let the server free the peers
    return results


def summary(n: int, label: str, results: list[dict[str, Any]]) -> dict[str, float]:
    fps = [r["client_fps"] for r in results]
    server = [r["server"] for r in results if r["server"]]
    row = {
        "n": n,
        "client_fps_median": median(fps),
        "client_fps_min": min(fps),
        "server_fps_median": median(s["fps"] for s in server) if server else 0.0,
        "p50_ms": median(s["latency_p50_ms"] for s in server) if server else 0.0,
        "p95_ms": median(s["latency_p95_ms"] for s in server) if server else 0.0,
        "max_ms": median(s.get("latency_max_ms", 0.0) for s in server) if server else 0.0,
        "process_p50_ms": median(s["process_p50_ms"] for s in server) if server else 0.0,
        "dropped": sum(s["dropped"] for s in server),
        "frames_in": sum(s["frames_in"] for s in server),
        "backlog": max(s["frames_in"] - s["frames_out"] - s["dropped"] for s in server)
        if server
        else 0,
        "load": os.getloadavg()[0],
    }
    print(
        f"{label:>10} N={n}: fps/peer client median {row['client_fps_median']:.1f} "
        f"(min {row['client_fps_min']:.1f}), server {row['server_fps_median']:.1f}; "
        f"latency p50 {row['p50_ms']:.1f} ms p95 {row['p95_ms']:.1f} ms "
        f"max {row['max_ms']:.1f} ms "
        f"(stages p50 {row['process_p50_ms']:.1f} ms); dropped {row['dropped']}/"
        f"{row['frames_in']}; largest backlog {row['backlog']} frame; "
        f"load {row['load']:.1f}",
        flush=True,
    )
    return row


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    """One row per N: the median over rounds of each figure; drops and backlog summed and
    maxed; the load average's range."""
    out = {k: median(r[k] for r in rows) for k in rows[0]}
    out["dropped"] = sum(r["dropped"] for r in rows)
    out["frames_in"] = sum(r["frames_in"] for r in rows)
    out["backlog"] = max(r["backlog"] for r in rows)
    out["load_min"] = min(r["load"] for r in rows)
    out["load_max"] = max(r["load"] for r in rows)
    return out


def chain_only(frames: int, weights: Path | None) -> None:
    """Time the server's per-frame work in this process (no WebRTC, no RTP), step by step.

    Each 640x480 camera frame is VP8-encoded as a client would send it, then timed as the
    server handles it: aiortc's VP8 decode, the live chain (its own step timings), the
    frame handed to the encoder, and aiortc's VP8 encode. The peer in the same run is the
    same chain with its landmarks claiming the whole RGB frame (``frame.image``, as the
    chain did before face-box patches): the whole frame goes RGB and back to YUV.
    """
    import itertools
    from fractions import Fraction

    import av
    import cv2
    import numpy as np
    import torch
    from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, VpxPayloadDescriptor
    from aiortc.jitterbuffer import JitterFrame

    from facestream.demo.client import moving_face_frames
    from facestream.models.detector import FaceDetector
    from facestream.stream.frames import Frame
    from facestream.stream.live_chain import LiveChain

    torch.set_num_threads(1)  # as the server runs each peer
    cv2.setNumThreads(1)
    images = itertools.islice(moving_face_frames(example_image("carphone")), frames + 10)
    sender, decoder = Vp8Encoder(), Vp8Decoder()
    packets = []
    for i, image in enumerate(images):
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        video_frame.pts, video_frame.time_base = i * 3000, Fraction(1, 90000)
        payloads, timestamp = sender.encode(video_frame)
        data = b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads)
        packets.append(JitterFrame(data=data, timestamp=timestamp))

    class WholeFrame:
        """The peer: the chain's landmarks, taking the frame's whole RGB image first."""

        def __init__(self, landmarks: Any) -> None:
            self.landmarks = landmarks
            self.name = f"{landmarks.name}, whole-frame RGB"

        def process(self, frame: Frame) -> Frame:
            frame.image  # noqa: B018 -- claims the whole frame as RGB
            return self.landmarks.process(frame)

        def __call__(self, image: np.ndarray) -> list[Any]:
            return list(self.landmarks(image))

    def clock() -> np.ndarray:
        return np.array([time.perf_counter(), time.thread_time()])

    def run(chain: LiveChain) -> dict[str, np.ndarray]:
        """Per step, (wall, CPU) ms of every frame after the first 10 (warm-up)."""
        encoder = Vp8Encoder()
        rows: dict[str, list[np.ndarray]] = {}
        for i, packet in enumerate(packets):
            t0 = clock()
            (decoded,) = decoder.decode(packet)
            t1 = clock()
            frame = chain.process(Frame.from_av(decoded, index=i))
            t2 = clock()
            out = frame.to_av()
            t3 = clock()
            encoder.encode(out)
            t4 = clock()
            if i < 10:
                continue
            steps = {"VP8 decode (aiortc)": t1 - t0}
            steps.update({f"chain: {k}": np.array(v) for k, v in chain.timings.items()})
            steps["frame to encoder (to_av)"] = t3 - t2
            steps["chain + to_av (the track's work)"] = t3 - t1
            steps["VP8 encode (aiortc)"] = t4 - t3
            for step, value in steps.items():
                rows.setdefault(step, []).append(np.asarray(value) * 1000)
        return {k: np.array(v) for k, v in rows.items()}

    chain = LiveChain(example_image("astronaut"), weights=weights)
    peer = LiveChain(example_image("astronaut"), landmarks=WholeFrame(chain.landmarks))
    print(f"landmarks: {chain.landmarks.name}; {frames} frames at 640x480")
    # The chain and its peer alternate over 3 rounds (different landmark/smoothing state
    # per chain, same frames); medians over all their frames.
    results: dict[str, list[dict[str, np.ndarray]]] = {"patches": [], "whole": []}
    for _ in range(3):
        results["patches"].append(run(chain))
        results["whole"].append(run(peer))
    merged = {
        name: {k: np.concatenate([r[k] for r in runs]) for k in runs[0]}
        for name, runs in results.items()
    }
    image = next(moving_face_frames(example_image("carphone")))
    for variant in ("short", "full"):  # the live tracker's detector, and the engine default
        detector = FaceDetector(variant)
        detector.detect(image)
        det = []
        for _ in range(20):
            t0 = clock()
            detector.detect(image)
            det.append((clock() - t0) * 1000)
        merged["patches"][f"detector alone ({variant} range; 1 frame in 30)"] = np.array(det)
    print("step | wall p50 | wall p95 | CPU p50 | CPU p95  (ms per frame)")
    titles = {"patches": "face-box patches (the live chain)", "whole": "peer: whole-frame RGB"}
    for name, rows in merged.items():
        print(f"-- {titles[name]}")
        for step, ms in rows.items():
            wall, cpu = ms[:, 0], ms[:, 1]
            print(
                f"{step} | {np.median(wall):.2f} | {np.percentile(wall, 95):.2f} | "
                f"{np.median(cpu):.2f} | {np.percentile(cpu, 95):.2f}"
            )
    key, enc = "chain + to_av (the track's work)", "VP8 encode (aiortc)"
    for label, step in (("track's work", key), ("VP8 encode", enc)):
        a = np.median(merged["patches"][step][:, 1])
        b = np.median(merged["whole"][step][:, 1])
        print(f"{label}: CPU p50 patches / whole-frame RGB x{a / b:.2f}")


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    base = f"http://{HOST}:{port}"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "facestream"),
            "--quiet",
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--max-peers",
            str(args.max_peers),
            *(["--weights", str(args.weights)] if args.weights else []),
        ],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until_up(base, http)
            print(f"server pid {server.pid} on {base}; {os.cpu_count()} CPU cores", flush=True)
            # Rounds alternate the swap-off peer with the swap-on runs, so both see the
            # same spells of load from other jobs; each figure is a median over rounds.
            runs: dict[tuple[str, int], list[dict[str, float]]] = {}
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds}", flush=True)
                for label, n, swap in [("swap off", 1, False)] + [
                    ("swap on", n, True) for n in range(1, args.max_peers + 1)
                ]:
                    results = await run_peers(base, http, n, args.seconds, swap, args.source)
                    runs.setdefault((label, n), []).append(summary(n, label, results))
            print(f"medians over {args.rounds} rounds:")
            print(
                "| chain | N | fps/peer (client) | latency p50 | latency p95 | latency max | "
                "stages p50 | dropped | load avg |"
            )
            table = {key: medians(rows) for key, rows in runs.items()}
            for (label, n), m in table.items():
                print(
                    f"| {label} | {n} | {m['client_fps_median']:.1f} | {m['p50_ms']:.1f} ms | "
                    f"{m['p95_ms']:.1f} ms | {m['max_ms']:.1f} ms | {m['process_p50_ms']:.1f} ms | "
                    f"{m['dropped']:.0f}/{m['frames_in']:.0f} | "
                    f"{m['load_min']:.1f}-{m['load_max']:.1f} |"
                )
            held = [n for (label, n), m in table.items() if label == "swap on"]
            held = [
                n for n in held if table[("swap on", n)]["client_fps_median"] >= args.target_fps
            ]
            best = max((n for n in held if all(k in held for k in range(1, n + 1))), default=0)
            one, peer = table[("swap on", 1)], table[("swap off", 1)]
            print(
                f"largest N with median per-peer fps >= {args.target_fps:g}: {best}\n"
                f"one peer: latency p50 {one['p50_ms']:.1f} ms, p95 {one['p95_ms']:.1f} ms "
                f"(target p95 <= 40 ms: {'met' if one['p95_ms'] <= 40 else 'missed'}); "
                f"ratio to swap off: p50 x{one['p50_ms'] / max(peer['p50_ms'], 1e-6):.2f}, "
                f"p95 x{one['p95_ms'] / max(peer['p95_ms'], 1e-6):.2f}; largest backlog "
                f"{max(m['backlog'] for m in table.values()):.0f} frames",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-peers", type=int, default=6, help="largest N tried (default 6)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per N")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all runs (default 3)")
    parser.add_argument("--target-fps", type=float, default=15.0, help="fps a peer must hold")
    parser.add_argument("--source", default="astronaut", help="example source face")
    parser.add_argument(
        "--chain-only",
        type=int,
        metavar="FRAMES",
        help="time the processing chain alone on this many 640x480 frames (no WebRTC)",
    )
    parser.add_argument(
        "--weights", type=Path, help="HRNet-128 lite weights (default: shipped, else stand-in)"
    )
    args = parser.parse_args()
    if args.chain_only:
        chain_only(args.chain_only, args.weights)
    else:
        asyncio.run(main(args))
