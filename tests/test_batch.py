"""facestream batch: planning and skipping without Ray, then a real batch on a local Ray cluster."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import fsspec
import pytest
from batch_faults import install as install_flaky_storage
from conftest import write_video
from test_stream_file import assert_same_timing_and_audio

from facestream.stream import cli_swap
from facestream.stream.batch import (
    Job,
    Worker,
    connect,
    list_inputs,
    plan_jobs,
    read_photos,
    remove_partials,
)
from facestream.stream.cli import main
from facestream.stream.errors import UserError

TESTS = Path(__file__).resolve().parent


def settings(**overrides: object) -> argparse.Namespace:
    """The swap options as ``facestream batch`` parses them."""
    parser = argparse.ArgumentParser()
    cli_swap.add_options(parser)
    args = parser.parse_args(["--preset", "ultrafast"])
    args.quiet = True
    vars(args).update(overrides)
    return args


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    yield fs
    if fs.exists("/batchtest"):
        fs.rm("/batchtest", recursive=True)


def test_manifest_lines_comments_and_relative_paths(tmp_path):
    (tmp_path / "clips").mkdir()
    manifest = tmp_path / "list.txt"
    manifest.write_text(
        "# talks\n\nclips/a.mp4\n  /data/b.mkv  \nmemory://bucket/c.webm\ns3://bucket/d/e.mov\n"
    )
    assert list_inputs(str(manifest)) == [
        (str(tmp_path / "clips" / "a.mp4"), "a.mp4"),
        ("/data/b.mkv", "b.mkv"),
        ("memory://bucket/c.webm", "c.webm"),
        ("s3://bucket/d/e.mov", "e.mov"),
    ]


def test_a_manifest_line_without_a_video_extension_gets_an_mp4_output(tmp_path):
    # Its output name once kept the extension, and the file failed on its hidden
    # temporary name ("cannot tell a video format from the name .notes.1a2b.batch.txt")
    # instead of saying what the input is.
    (tmp_path / "notes.txt").write_text("not a video\n" * 20)
    manifest = tmp_path / "list.txt"
    manifest.write_text("notes.txt\nclips\n")
    assert [name for _, name in list_inputs(str(manifest))] == ["notes.txt.mp4", "clips.mp4"]
    job = Job(str(tmp_path / "notes.txt"), str(tmp_path / "out" / "notes.txt.mp4"))
    result = Worker(settings()).process(job)
    assert result.reason.startswith(f"{tmp_path / 'notes.txt'} is ")  # what the input is
    assert ".batch" not in result.reason


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(b"x")
    (tmp_path / "out").write_bytes(b"a file")
    with pytest.raises(UserError, match=r"--out .*out is a file; give a folder"):
        plan_jobs(str(tmp_path / "in"), str(tmp_path / "out"))


def test_folder_is_searched_recursively_and_keeps_relative_paths(tmp_path):
    for name in ["a.mp4", "day2/b.MKV", "day2/notes.txt", "day2/deep/c.webm"]:
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b"x")
    jobs, skipped = plan_jobs(str(tmp_path / "in"), str(tmp_path / "out"))
    assert skipped == []
    assert [(Path(j.input).relative_to(tmp_path / "in").as_posix(), j.output) for j in jobs] == [
        ("a.mp4", str(tmp_path / "out" / "a.mp4")),
        ("day2/b.MKV", str(tmp_path / "out" / "day2" / "b.MKV")),
        ("day2/deep/c.webm", str(tmp_path / "out" / "day2" / "deep" / "c.webm")),
    ]


def test_existing_outputs_are_skipped_but_partial_ones_are_not(tmp_path):
    (tmp_path / "in").mkdir()
    for name in "abc":
        (tmp_path / "in" / f"{name}.mp4").write_bytes(b"x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.mp4").write_bytes(b"done")
    (tmp_path / "out" / ".b.1234abcd.batch.mp4").write_bytes(b"half")  # an interrupted write
    jobs, skipped = plan_jobs(str(tmp_path / "in"), str(tmp_path / "out"))
    assert [Path(j.output).name for j in jobs] == ["b.mp4", "c.mp4"]
    assert [(Path(r.job.output).name, r.status) for r in skipped] == [("a.mp4", "skipped")]


def test_overwrite_redoes_the_files_whose_output_exists(tmp_path, capsys, monkeypatch):
    for folder in ("in", "out"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.mp4").write_bytes(b"x")
    jobs, skipped = plan_jobs(str(tmp_path / "in"), str(tmp_path / "out"), overwrite=True)
    assert [Path(job.output).name for job in jobs] == ["a.mp4"] and skipped == []
    monkeypatch.setitem(sys.modules, "ray", None)  # the command goes on to run the file
    argv = ["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out")]
    assert main([*argv, "-y"]) == 2
    assert "pip install 'facestream[ray]'" in capsys.readouterr().err


def test_an_output_folder_inside_the_input_folder_is_not_read(tmp_path):
    (tmp_path / "swapped").mkdir()
    for name in ("a.mp4", "swapped/a.mp4", "swapped/.b.1234abcd.batch.mp4", ".hidden.mp4"):
        (tmp_path / name).write_bytes(b"x")
    jobs, skipped = plan_jobs(str(tmp_path), str(tmp_path / "swapped"))
    assert jobs == [] and [r.job.input for r in skipped] == [str(tmp_path / "a.mp4")]


def test_skipping_works_on_a_remote_output_folder(memfs):
    memfs.pipe("/batchtest/in/a.mp4", b"x")
    memfs.pipe("/batchtest/in/b.mp4", b"x")
    memfs.pipe("/batchtest/out/b.mp4", b"done")
    jobs, skipped = plan_jobs("memory://batchtest/in", "memory://batchtest/out")
    assert jobs == [Job("memory:///batchtest/in/a.mp4", "memory:///batchtest/out/a.mp4")]
    assert [r.job.output for r in skipped] == ["memory:///batchtest/out/b.mp4"]


def test_relative_paths_become_absolute_for_workers_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("in").mkdir()
    Path("in/a.mp4").write_bytes(b"x")
    jobs, _ = plan_jobs("in", "out")
    assert jobs == [Job(str(tmp_path / "in" / "a.mp4"), str(tmp_path / "out" / "a.mp4"))]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("x/a.mp4\ny/a.mp4\n", "would both be written to"),
        ("# nothing\n", "lists no video files"),
    ],
)
def test_plan_refuses_bad_manifests(tmp_path, lines, message):
    manifest = tmp_path / "list.txt"
    manifest.write_text(lines)
    with pytest.raises(UserError, match=message):
        plan_jobs(str(manifest), str(tmp_path / "out"))


def test_plan_refuses_an_output_over_its_input(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    with pytest.raises(UserError, match="would overwrite it"):
        plan_jobs(str(tmp_path), str(tmp_path))
    manifest = tmp_path / "list.txt"
    manifest.write_text("a.mp4\n")
    with pytest.raises(UserError, match="would overwrite it"):
        plan_jobs(str(manifest), str(tmp_path))


def test_missing_manifest_and_unknown_protocol(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        plan_jobs(str(tmp_path / "nope.txt"), str(tmp_path / "out"))
    with pytest.raises(UserError, match="cannot open nosuchfs://"):
        plan_jobs("nosuchfs://bucket/list.txt", str(tmp_path / "out"))


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed")
def test_a_url_without_its_fsspec_package_fails_before_any_work(tmp_path):
    manifest = tmp_path / "list.txt"
    manifest.write_text("s3://bucket/a.mp4\n")
    with pytest.raises(UserError, match="cannot open s3://bucket/a.mp4: Install s3fs"):
        plan_jobs(str(manifest), str(tmp_path / "out"))


def test_worker_downloads_and_uploads_through_fsspec(memfs, tmp_path):
    src = write_video(tmp_path / "a.mp4", pts=range(8), audio=("aac",))
    memfs.pipe("/batchtest/in/a.mp4", src.read_bytes())
    worker = Worker(settings())
    result = worker.process(Job("memory://batchtest/in/a.mp4", "memory://batchtest/out/a.mp4"))
    assert (result.status, result.frames) == ("done", 8), result.reason
    assert memfs.ls("/batchtest/out", detail=False) == ["/batchtest/out/a.mp4"]  # no partial
    local = tmp_path / "back.mp4"
    local.write_bytes(memfs.cat("/batchtest/out/a.mp4"))
    assert_same_timing_and_audio(src, local)
    # The swap's warning travels with the result, for the driver to print under the file.
    assert result.warnings == ("no --source face was given: the frames were re-encoded unchanged",)


def test_worker_failures_are_one_sentence_and_leave_no_output(memfs, tmp_path):
    (tmp_path / "bad.mp4").write_text("not a video\n" * 40)
    worker = Worker(settings())
    bad = worker.process(Job(str(tmp_path / "bad.mp4"), str(tmp_path / "out" / "bad.mp4")))
    assert bad.status == "failed" and "is not a readable media file" in bad.reason
    missing = worker.process(Job("memory://batchtest/nope.mp4", "memory://batchtest/o.mp4"))
    assert missing.status == "failed"
    assert missing.reason == "memory://batchtest/nope.mp4 does not exist."
    assert list((tmp_path / "out").iterdir()) == []  # no output, no partial file
    assert not memfs.exists("/batchtest/o.mp4")


def test_worker_builds_stages_once_when_they_reset(tmp_path):
    class Counting:
        def __init__(self) -> None:
            self.frames, self.closes, self.resets = 0, 0, 0

        def process(self, frame):
            self.frames += 1
            return frame

        def close(self) -> None:  # the pipeline's, at the end of every file
            self.closes += 1

        def reset(self) -> None:
            self.resets += 1

    built: list[Counting] = []

    def build(args):
        built.append(Counting())
        return [built[-1]]

    worker = Worker(settings())
    for name in ("a", "b", "c"):
        src = write_video(tmp_path / f"{name}.mp4", pts=range(5))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("facestream.stream.batch.build_stages", build)
            assert worker.process(Job(str(src), str(tmp_path / "out" / src.name))).status == "done"
    assert len(built) == 1 and worker.builds == 1
    assert (built[0].frames, built[0].closes, built[0].resets) == (15, 3, 2)


def test_worker_rebuilds_stages_that_cannot_reset(tmp_path, caplog):
    class WithoutReset:
        def process(self, frame):
            return frame

    built: list[WithoutReset] = []

    def build(args):
        built.append(WithoutReset())
        return [built[-1]]

    worker = Worker(settings())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("facestream.stream.batch.build_stages", build)
        for name in ("a", "b", "c"):
            src = write_video(tmp_path / f"{name}.mp4", pts=range(3))
            assert worker.process(Job(str(src), str(tmp_path / "out" / src.name))).status == "done"
    assert len(built) == 3  # one build per file
    assert caplog.text.count("has no reset()") == 1


def test_source_photos_reach_the_worker_as_bytes(tmp_path):
    photo = tmp_path / "face.jpg"
    photo.write_bytes(b"jpeg bytes")
    worker = Worker(settings(source=photo), read_photos(photo))
    assert worker.settings.source != photo and worker.settings.source.read_bytes() == b"jpeg bytes"
    with pytest.raises(UserError, match="source face .* does not exist"):
        read_photos(tmp_path / "nope.jpg")


def test_cli_errors_are_one_sentence(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"facestream: error: {tmp_path / 'nope'} does not exist.\n"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(b"x")
    argv = ["batch", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--num-cpus", "0"]
    assert main(argv) == 2
    assert "--num-cpus must be above 0" in capsys.readouterr().err
    argv = ["batch", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--crf", "99"]
    assert main(argv) == 2  # before Ray starts, not once per file
    assert "--crf for libx264 goes from 0 to 51" in capsys.readouterr().err


def test_a_cluster_that_cannot_be_joined_is_one_sentence():
    class NoCluster:  # what Ray does when `--ray auto` finds no running cluster
        def is_initialized(self) -> bool:
            return False

        def init(self, **kwargs: object) -> None:
            raise ConnectionError("Could not find any running Ray instance. Please specify...")

    with pytest.raises(UserError) as caught:
        connect(NoCluster(), "auto", None)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "cannot join the Ray cluster at auto: Could not find any running Ray instance. "
        "Please specify."
    )


def test_cli_without_ray_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(b"x")
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "o")]) == 2
    assert "pip install 'facestream[ray]'" in capsys.readouterr().err


def test_cli_rerun_with_everything_done_needs_no_ray(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # would fail if Ray were asked for
    for folder in ("in", "o"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.mp4").write_bytes(b"x")
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "o")]) == 0
    assert "batch: 0 done, 0 failed, 1 skipped (output exists)" in capsys.readouterr().err


def test_the_command_shows_its_own_lines_not_rays(tmp_path):
    pytest.importorskip("ray", reason="needs Ray: pip install 'facestream[ray]'")
    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "a.mp4", pts=range(5))
    (tmp_path / "in" / "bad.mp4").write_bytes(b"not a video")
    command = [str(Path(sys.executable).parent / "facestream"), "batch", str(tmp_path / "in")]
    command += ["--out", str(tmp_path / "out"), "--workers", "1", "--preset", "ultrafast"]
    # A cluster of its own (not the test session's), with Ray's start-up banner and notices.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and "batch: 1 done, 1 failed" in done.stderr
    assert [line for line in lines if not line.startswith("facestream: ")] == []
    assert f"failed  {tmp_path / 'in' / 'bad.mp4'}: " in done.stderr  # the worker's error
    # A worker's warning comes back with its file's result, not through Ray's forwarding.
    assert f"warning: {tmp_path / 'in' / 'a.mp4'}: no --source face was given" in done.stderr


def test_a_stopped_batch_leaves_no_partial_file(tmp_path):
    pytest.importorskip("ray", reason="needs Ray: pip install 'facestream[ray]'")
    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "long.mp4", pts=range(200), size=(320, 240))
    out = tmp_path / "out"
    command = [str(Path(sys.executable).parent / "facestream"), "batch", str(tmp_path / "in")]
    command += ["--out", str(out), "--workers", "1", "--preset", "veryslow"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    batch = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (out.is_dir() and any(out.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(out.iterdir()), "the worker never started writing"
        batch.send_signal(signal.SIGTERM)  # as `kill` does, in the middle of the file
        err = batch.communicate(timeout=60)[1]
    finally:
        batch.kill()
    # Ray's native handler once printed a stack for SIGTERM and aborted (exit 134), and the
    # killed worker's hidden files stayed in the output folder.
    assert batch.returncode in (128 + signal.SIGTERM, 128 + signal.SIGINT)
    # Ray's native error lines stay visible, as errors do; shutting down with a call in
    # flight sometimes gives one ("Failed to push error to driver").
    native_error = re.compile(r"\[[\d-]+ [\d:,]+ E \d+ \d+\] ")
    lines = [line for line in err.splitlines() if not native_error.match(line)]
    assert lines == ["facestream: interrupted; no unfinished output was kept."]
    assert list(out.iterdir()) == []


def test_remove_partials_takes_only_its_own_runs_files(tmp_path):
    names = [".a.run1.batch.mp4", "..a.run1.batch.0a1b2c3d.partial.mp4"]
    kept = [
        "a.mp4",
        ".a.run2.batch.mp4",
        "..a.run2.batch.4e5f6a7b.partial.mp4",
        ".b.run1.batch.mp4",
    ]
    for name in names + kept:
        (tmp_path / name).write_bytes(b"x")
    remove_partials(Job("in/a.mp4", str(tmp_path / "a.mp4")), "run1")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


# --- a real batch on a local Ray cluster ---------------------------------------------------


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="needs Ray: pip install 'facestream[ray]'")
    install_flaky_storage()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 1024 * 1024,
        runtime_env={
            "env_vars": {"PYTHONPATH": str(TESTS)},
            "worker_process_setup_hook": "batch_faults.install",
        },
    )
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_batch_on_local_ray(local_ray, tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    good = [
        write_video(clips / "a.mp4", pts=range(12), audio=("aac",)),
        write_video(clips / "b.mkv", pts=[0, 1, 2, 4, 7, 8, 9], audio=("aac", "libopus")),
        write_video(clips / "c.mp4", pts=range(20), size=(80, 60), audio=("aac",)),
        write_video(clips / "d.mp4", pts=range(15), audio=("aac",)),
    ]
    flaky = write_video(clips / "flaky.mp4", pts=range(10), audio=("aac",))
    (clips / "flaky.mp4.fail").write_text("1")  # the first download fails, the retry works
    down = write_video(clips / "down.mp4", pts=range(10))
    (clips / "down.mp4.fail").write_text("always")
    crash = write_video(clips / "crash.mp4", pts=range(10), audio=("aac",))
    (clips / "crash.mp4.fail").write_text("exit")  # its first worker dies, a new one retries
    (clips / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4000))
    manifest = tmp_path / "list.txt"
    manifest.write_text(
        "\n".join(f"clips/{p.name}" for p in [*good, clips / "corrupt.mp4"])
        + f"\nflaky://{flaky}\nflaky://{down}\nflaky://{crash}\n"
    )
    out = tmp_path / "out"
    argv = ["batch", str(manifest), "--out", str(out), "--workers", "2", "--retries", "2"]
    # The real landmark stages (random weights: these clips hold no face), loaded once per
    # worker and reset between files.
    argv += ["--overlay", "landmarks", "--weights", "none", "--preset", "ultrafast"]

    assert main(argv) == 1  # two files failed
    err = capsys.readouterr().err
    assert "batch: 6 done, 2 failed, 0 skipped" in err
    assert f"failed: {clips / 'corrupt.mp4'}: " in err and "not a readable media file" in err
    assert f"failed: flaky://{down}: " in err and "connection reset" in err and "(2 retries)" in err
    assert "Traceback" not in err
    for clip in [*good, flaky, crash]:
        assert_same_timing_and_audio(clip, out / clip.name)
    assert (clips / "flaky.mp4.attempts").read_text() == "2"
    assert (clips / "down.mp4.attempts").read_text() == "3"  # one try and two retries
    assert (clips / "crash.mp4.attempts").read_text() == "2"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in [*good, flaky, crash])

    finished = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (clips / "down.mp4.fail").unlink()  # the storage is back
    assert main(argv) == 1  # the corrupt file still fails, at once
    err = capsys.readouterr().err
    assert "batch: 1 done, 1 failed, 6 skipped" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name in finished} == finished
    assert_same_timing_and_audio(down, out / "down.mp4")
