"""Run the swap over many video files on Ray: one file per task, the model loaded once per worker.

A batch is a list of ``Job`` (an input and its output, each a local path or an fsspec URL
such as ``s3://bucket/clip.mp4``). ``plan_jobs`` builds it from a folder or a manifest and
sets aside the files whose output already exists, so a rerun continues where the last one
stopped. ``run_batch`` hands the rest to a pool of Ray actors: each actor is one worker with
its own CPUs/GPUs, builds the swap stages (model and source enrollment) once, and runs
``facestream swap``'s own per-file function (``cli_swap.swap_file``) on file after file.
Outputs are written under a temporary name and renamed (or uploaded, then moved) only once
complete, so an output that exists is always a finished one.

Ray is imported here only, and only when a batch runs (``pip install 'facestream[ray]'``).

Example:
    >>> jobs, skipped = plan_jobs("clips/", "out/")  # doctest: +SKIP
    >>> results = run_batch(jobs, settings, workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any, Literal

import av.error
import fsspec
from fsspec.implementations.local import LocalFileSystem
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from facestream.stream.cli_swap import build_stages, swap_file
from facestream.stream.errors import UserError
from facestream.stream.frames import FrameStage
from facestream.stream.transcode import partials_of

log = logging.getLogger("facestream")

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".ts", ".mts"})
# Only the source photo and the small per-file results travel through Ray's object store
# (videos go through the filesystem), so a local cluster needs little of it.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


class TransientError(Exception):
    """A failure worth retrying: the network or the storage, not the file itself."""


@dataclass(frozen=True)
class Job:
    """One file of a batch: where it comes from and where its result goes."""

    input: str
    output: str


@dataclass(frozen=True)
class FileResult:
    """What became of one file."""

    job: Job
    status: Literal["done", "failed", "skipped"]
    reason: str = ""  # why it failed or was skipped, in one sentence
    frames: int = 0
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()  # what the swap warned about on this file


class _Warnings(logging.Handler):
    """Collects a worker's "facestream" warnings for one file. The driver prints them under
    the file's line; printed in the worker they would reach the terminal through Ray, with
    its prefix, out of order, once per worker."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _fs(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of a path or URL, with a sentence when its fsspec package is missing."""
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:  # a protocol without its package, or unknown
        raise UserError(f"cannot open {url}: {str(exc).rstrip('.')}.") from None


def _canonical(url: str) -> str:
    """One spelling per file (``file:///abs/path``, ``s3://bucket/key``), for comparisons."""
    fs, path = _fs(url)
    return fs.unstrip_protocol(path)


def _local_path(url: str) -> Path | None:
    """The local path of ``url`` (a plain path or ``file://``), or None for a remote URL."""
    fs, path = _fs(url)
    return Path(path) if isinstance(fs, LocalFileSystem) else None


def _spell(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A path of ``fs`` as the user would write it: plain when local, else a URL."""
    return path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path)


def _join(folder: str, relative: str) -> str:
    return f"{folder.rstrip('/')}/{relative}" if "://" in folder else str(Path(folder, relative))


def list_inputs(spec: str, exclude: str | None = None) -> list[tuple[str, str]]:
    """The inputs of a batch as ``(input, output name)`` pairs.

    ``spec`` is a folder (its video files, searched recursively, except hidden ones and those
    under the folder ``exclude``: an output folder inside the input folder holds results;
    each output keeps its path relative to the folder) or a manifest: a text file with one
    input path or URL per line, ``#`` comments and blank lines ignored, relative paths taken
    from the manifest's folder; each output is named after its input's file name (with
    ``.mp4`` added when that name has no video extension).
    """
    fs, root = _fs(spec)
    if not fs.exists(root):
        raise UserError(f"{spec} does not exist.")
    if fs.isdir(root):
        skip = None  # the input folder itself as the output gets its sentence in plan_jobs
        if exclude is not None and _canonical(exclude) != fs.unstrip_protocol(root):
            skip = _canonical(exclude).rstrip("/") + "/"
        found = sorted(
            path
            for path in fs.find(root)
            if PurePosixPath(path).suffix.lower() in VIDEO_SUFFIXES
            and not PurePosixPath(path).name.startswith(".")  # e.g. a batch's partial output
            and not (skip and fs.unstrip_protocol(path).startswith(skip))
        )
        return [
            (_spell(fs, path), PurePosixPath(path).relative_to(root).as_posix()) for path in found
        ]
    with fs.open(root, "rt", encoding="utf-8") as manifest:
        lines = [line.strip() for line in manifest]
    pairs = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if "://" not in line and not PurePosixPath(line).is_absolute():
            line = _spell(fs, str(PurePosixPath(root).parent / line))
        name = PurePosixPath(line)
        # Not a video's extension (a typo, a photo, a text file): the output is still a video,
        # so that the input is opened and says what it is.
        if name.suffix.lower() not in VIDEO_SUFFIXES:
            name = name.with_name(f"{name.name}.mp4")
        pairs.append((line, name.name))
    return pairs


def plan_jobs(spec: str, out: str, overwrite: bool = False) -> tuple[list[Job], list[FileResult]]:
    """The jobs to run, and the files skipped because their output already exists.

    Args:
        spec: a folder or a manifest of inputs (``list_inputs``), a path or a URL.
        out: the output folder, a path or a URL.
        overwrite: run every file, replacing the outputs that exist (none is skipped).

    Raises:
        UserError: no inputs, two inputs with the same output, or an output that is its input.
    """
    out = _spell(*_fs(out))  # a local folder made absolute: workers may run elsewhere
    out_fs, out_root = _fs(out)
    if out_fs.isfile(out_root):
        raise UserError(f"--out {out} is a file; give a folder (it is made if missing).")
    pairs = list_inputs(spec, exclude=out)
    if not pairs:
        raise UserError(f"{spec} lists no video files.")
    jobs: list[Job] = []
    seen: dict[str, str] = {}
    for source, name in pairs:
        target = _join(out, name)
        key = _canonical(target)
        if key in seen:
            raise UserError(
                f"{seen[key]} and {source} would both be written to {target}; rename one of them."
            )
        if key == _canonical(source):
            raise UserError(f"the output of {source} would overwrite it; choose another --out.")
        seen[key] = source
        jobs.append(Job(source, target))
    existing = (
        {out_fs.unstrip_protocol(path) for path in out_fs.find(out_root)}
        if out_fs.exists(out_root) and not overwrite
        else set()
    )
    todo = [job for job in jobs if _canonical(job.output) not in existing]
    skipped = [
        FileResult(job, "skipped", "the output already exists")
        for job in jobs
        if _canonical(job.output) in existing
    ]
    return todo, skipped


def _io_error(url: str, exc: OSError) -> Exception:
    """A missing or forbidden file is the user's to fix; any other I/O error is retried."""
    if isinstance(exc, FileNotFoundError):
        return UserError(f"{url} does not exist.")
    if isinstance(exc, PermissionError):
        return UserError(f"no permission to access {url}.")
    return TransientError(f"{url}: {exc}")


def _fetch(url: str, folder: Path) -> Path:
    """A local copy of ``url`` in ``folder`` (a local path is used where it lies)."""
    local = _local_path(url)
    if local is not None:
        return local
    fs, path = _fs(url)
    target = folder / PurePosixPath(path).name
    try:
        fs.get_file(path, str(target))
    except OSError as exc:
        raise _io_error(url, exc) from exc
    return target


def _staging_path(url: str, scratch: Path, run: str) -> Path:
    """Where the swap writes: beside the final file when local, so publishing is a rename;
    named after the batch ``run`` so that its driver can find what a killed worker left."""
    final = _local_path(url)
    if final is None:
        return scratch / f"out{PurePosixPath(url).suffix}"
    final.parent.mkdir(parents=True, exist_ok=True)
    return _staged_beside(final, run)


def _staged_beside(final: Path, run: str) -> Path:
    """The hidden name batch ``run`` writes a local output under until it is complete."""
    return final.with_name(f".{final.stem}.{run}.batch{final.suffix}")


def remove_partials(job: Job, run: str) -> None:
    """Delete the files that batch ``run`` left half-written beside a local output: a worker
    stopped in the middle of a file (Ctrl-C, ``kill``, a crash) cannot delete its own."""
    final = _local_path(job.output)
    if final is None:
        return  # a remote output is staged in the worker's temporary folder
    staged = _staged_beside(final, run)
    for path in [staged, *partials_of(staged)]:
        path.unlink(missing_ok=True)


def _publish(staged: Path, url: str) -> None:
    """Give a finished file its final name; a remote one is uploaded under a temporary name."""
    final = _local_path(url)
    if final is not None:
        os.replace(staged, final)
        return
    fs, path = _fs(url)
    parent = PurePosixPath(path).parent
    partial = str(parent / f".{PurePosixPath(path).name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        fs.makedirs(str(parent), exist_ok=True)
        fs.put_file(str(staged), partial)
        fs.mv(partial, path)
    except OSError as exc:
        if fs.exists(partial):
            fs.rm(partial)
        raise _io_error(url, exc) from exc


def describe(exc: BaseException) -> str:
    """One sentence for a failed file, worded as the swap command words it."""
    if isinstance(exc, UserError | TransientError):
        return str(exc)
    if isinstance(exc, av.error.FFmpegError):
        return f"FFmpeg failed: {exc}"
    return f"internal error: {type(exc).__name__}: {exc}"


def _local_copy(name: str, data: bytes) -> Path:
    """``data`` in a file of this node's temp folder, named by its content.

    Workers on one node share it and a killed worker leaves nothing new behind: the same
    photo always lands on the same path.
    """
    folder = Path(
        tempfile.gettempdir(), f"facestream-source-{hashlib.sha256(data).hexdigest()[:16]}"
    )
    path = folder / name
    if not path.is_file():
        folder.mkdir(exist_ok=True)
        partial = folder / f".{name}.{uuid.uuid4().hex[:8]}"
        partial.write_bytes(data)
        os.replace(partial, path)  # atomic: a worker never reads half a photo
    return path


class Worker:
    """One batch worker: the swap stages built once, then ``process`` for file after file.

    The stages (model, source enrollment) are kept across files when every one of them has
    ``reset()``: called before each file, after the pipeline's ``close()`` of the previous
    one, it drops per-video state (tracks, smoothers) and keeps the loaded model. Should a
    stage lack it, the stages are rebuilt for every file: correct, but the model is loaded
    each time.

    Args:
        settings: the options of ``facestream swap`` (its ``add_options``).
        photos: ``(file name, bytes)`` of each ``--source`` photo (``read_photos``).
        run: the batch's id, in the names of the files being written (``remove_partials``);
            one of the worker's own when omitted.

    Example:
        >>> worker = Worker(settings, read_photos(settings.source))  # doctest: +SKIP
        >>> worker.process(Job("in.mp4", "out/in.mp4")).status  # doctest: +SKIP
        'done'
    """

    def __init__(
        self,
        settings: argparse.Namespace,
        photos: Sequence[tuple[str, bytes]] = (),
        run: str | None = None,
    ) -> None:
        self.run = run or uuid.uuid4().hex[:8]
        self.settings = copy.copy(settings)
        self.settings.quiet = True  # no per-frame progress bars from the workers
        # The photos arrive as bytes, so a worker on another node needs no shared disk.
        paths = [_local_copy(name, data) for name, data in photos]
        if paths:
            self.settings.source = paths[0] if len(paths) == 1 else paths
        self.stages: list[FrameStage] | None = None
        self.builds = 0  # how often the stages were built (once, unless a stage lacks reset)

    def ready(self) -> bool:
        """Answers once the worker has started; the pool hands it files from then on."""
        return True

    def _stages_for(self, args: argparse.Namespace) -> list[FrameStage]:
        if self.stages is not None and all(hasattr(s, "reset") for s in self.stages):
            for stage in self.stages:
                stage.reset()  # type: ignore[attr-defined]
            return self.stages
        if self.builds == 1:
            log.warning("a swap stage has no reset(): its stages are rebuilt for every file")
        self.stages = build_stages(args)
        self.builds += 1
        return self.stages

    def process(self, job: Job) -> FileResult:
        """Swap one file; a failure of the file itself comes back as a ``failed`` result.

        Raises:
            TransientError: storage or network trouble (Ray retries the call).
        """
        started = time.perf_counter()
        staged: Path | None = None
        warnings = _Warnings()
        log.addHandler(warnings)
        try:
            with tempfile.TemporaryDirectory(prefix="facestream-batch-") as scratch:
                args = copy.copy(self.settings)
                args.input = _fetch(job.input, Path(scratch))
                args.output = staged = _staging_path(job.output, Path(scratch), self.run)
                report = swap_file(args, self._stages_for(args))
                _publish(staged, job.output)
        except TransientError:
            raise
        except Exception as exc:
            seconds = time.perf_counter() - started
            return FileResult(job, "failed", describe(exc), 0, seconds, tuple(warnings.messages))
        finally:
            log.removeHandler(warnings)
            if staged is not None:
                staged.unlink(missing_ok=True)  # a failed run's file; gone after a publish
        seconds = time.perf_counter() - started
        return FileResult(job, "done", "", report.frames, seconds, tuple(warnings.messages))


def read_photos(source: Path | Sequence[Path] | None) -> list[tuple[str, bytes]]:
    """The ``--source`` photos as ``(name, bytes)``, read once by the driver for all workers."""
    if source is None:
        return []
    paths = [source] if isinstance(source, Path) else list(source)
    for path in paths:
        if not path.is_file():
            raise UserError(f"the source face {path} does not exist.")
    # Numbered, in case two photos from different folders share a name.
    return [(f"{i}_{path.name}", path.read_bytes()) for i, path in enumerate(paths)]


def import_ray() -> ModuleType:
    """Ray, or a sentence saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(
            "facestream batch runs on Ray, which is not installed: pip install 'facestream[ray]'."
        ) from None
    return ray


def connect(
    ray: ModuleType, address: str | None, local_cpus: float | None, verbose: bool = False
) -> bool:
    """Join the cluster at ``address``, or start a local one; True when this call started Ray.

    A Ray session already open in this process (a notebook, a test) is used as it is. Ray's
    own log lines (its start-up banner, notices) show only when ``verbose``; its errors
    always do, and so does what the workers print (Ray forwards it, prefixed by the worker).
    """
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.INFO if verbose else logging.ERROR}
    on_main_thread = threading.current_thread() is threading.main_thread()
    on_sigterm = signal.getsignal(signal.SIGTERM) if on_main_thread else None
    if address is not None:
        log.info("joining the Ray cluster at %s…", address)  # Ray keeps trying for minutes
        try:
            with warnings.catch_warnings():
                if not verbose:  # Ray Client warns, then raises the same news
                    warnings.simplefilter("ignore")
                ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError) as exc:
            reason = str(exc).strip().split("\n")[0].rstrip(".")
            raise UserError(f"cannot join the Ray cluster at {address}: {reason}.") from None
    else:
        ray.init(num_cpus=local_cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES, **quiet)
    if on_sigterm is not None:
        # Ray takes SIGTERM (its native crash handler printed a stack and aborted): give it
        # back, so that `kill` stops a batch as Ctrl-C does, through the same cleanup.
        signal.signal(signal.SIGTERM, on_sigterm)
    return True


def pool_size(ray: ModuleType, wanted: int | None, num_cpus: float, num_gpus: float) -> int:
    """``wanted``, or as many workers as the cluster's nodes hold; a sentence if none fits.

    Workers that do not fit yet wait for room (or for the autoscaler); the others meanwhile
    take every file, since a worker is handed files only once it has started.
    """
    fits = 0
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        have = node.get("Resources", {})
        room = int(have.get("CPU", 0) // num_cpus)
        if num_gpus > 0:
            room = min(room, int(have.get("GPU", 0) // num_gpus))
        fits += room
    if fits < 1:
        raise UserError(
            f"no node of the Ray cluster can hold a worker with {num_cpus:g} CPU(s) and "
            f"{num_gpus:g} GPU(s); lower --num-cpus or --num-gpus."
        )
    return wanted or fits


class _Pool:
    """The Ray actors of one batch; a worker is handed files once it has started."""

    def __init__(self, ray: ModuleType, make: Callable[[], Any]) -> None:
        self.ray = ray
        self.make = make
        self.actors: list[Any] = []
        self.starting: dict[Any, Any] = {}  # ready() call -> its worker
        self.idle: list[Any] = []

    def add(self) -> None:
        worker = self.make()
        self.actors.append(worker)
        self.starting[worker.ready.remote()] = worker

    def close(self) -> None:
        # Explicitly, so their CPUs and GPUs are free at once for the next batch or job.
        for worker in self.actors:
            self.ray.kill(worker)


def run_batch(
    jobs: Sequence[Job],
    settings: argparse.Namespace,
    *,
    address: str | None = None,
    workers: int | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    retries: int = 3,
    progress: bool | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Run ``jobs`` on a pool of Ray actors; one result per job, in finishing order.

    Args:
        jobs: the files to swap (``plan_jobs``).
        settings: the options of ``facestream swap``.
        address: a Ray cluster to join (``auto``, ``host:6379``, ``ray://host:10001``); a
            local cluster is started when None (and stopped at the end).
        workers: actors in the pool, each holding the model once; as many as fit when None.
        num_cpus: CPUs reserved per worker (more than 0).
        num_gpus: GPUs reserved per worker (fractions share a GPU).
        retries: reruns of a file after a transient error, or after its worker died.
        progress: a progress bar over files; None shows one when stderr is a terminal.
        on_result: called with each file's result as it arrives.
    """
    ray = import_ray()
    photos = read_photos(settings.source)
    local_cpus = None if workers is None else workers * num_cpus
    started_ray = connect(ray, address, local_cpus, verbose=getattr(settings, "debug", False))
    results: list[FileResult] = []
    bar = tqdm(
        total=len(jobs),
        unit="file",
        disable=not (sys.stderr.isatty() if progress is None else progress),
    )

    def finish(result: FileResult) -> None:
        results.append(result)
        bar.update()
        if on_result is not None:
            on_result(result)

    pool: _Pool | None = None
    run = uuid.uuid4().hex[:8]
    running: dict[Any, tuple[Any, Job]] = {}
    deaths: dict[Job, int] = {}
    try:
        worker_class = ray.remote(Worker).options(num_cpus=num_cpus, num_gpus=num_gpus)
        photos_ref = ray.put(photos)  # one copy per node, however many workers read it
        pool = _Pool(ray, lambda: worker_class.remote(settings, photos_ref, run))
        for _ in range(min(len(jobs), pool_size(ray, workers, num_cpus, num_gpus))):
            pool.add()
        pending = list(reversed(jobs))
        with logging_redirect_tqdm([log]):
            while pending or running:
                # One file per worker at a time: a free worker takes the next file.
                while pending and pool.idle:
                    worker, job = pool.idle.pop(), pending.pop()
                    call = worker.process.options(
                        max_task_retries=retries, retry_exceptions=[TransientError]
                    )
                    running[call.remote(job)] = (worker, job)
                (ref,), _ = ray.wait([*pool.starting, *running], num_returns=1)
                if ref in pool.starting:
                    pool.idle.append(pool.starting.pop(ref))
                    continue
                worker, job = running.pop(ref)
                try:
                    finish(ray.get(ref))
                    pool.idle.append(worker)
                except ray.exceptions.RayTaskError as exc:  # a transient error, retries spent
                    pool.idle.append(worker)
                    finish(FileResult(job, "failed", f"{describe(exc.cause)} ({retries} retries)"))
                except ray.exceptions.RayActorError as exc:
                    # The process died (out of memory, a crash in native code, a lost node):
                    # a fresh worker takes its place and the file is tried again.
                    pool.add()
                    deaths[job] = deaths.get(job, 0) + 1
                    if deaths[job] <= retries:
                        pending.append(job)
                    else:
                        reason = str(exc).strip().splitlines()[0]
                        finish(
                            FileResult(
                                job, "failed", f"its worker died {deaths[job]} times: {reason}"
                            )
                        )
    finally:
        bar.close()
        if started_ray:
            ray.shutdown()  # the actors end with the cluster
        elif pool is not None:
            # Killing an actor in the middle of a file makes Ray print that the call will be
            # retried; the cluster stays, so the actors must go.
            pool.close()
        # The files in the middle of being written when the batch stopped, and those whose
        # worker died.
        for job in {job for _, job in running.values()} | set(deaths):
            remove_partials(job, run)
    return results
