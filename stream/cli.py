"""The ``facestream`` command line.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``, with its one-line help as the module docstring; adding a subcommand is
one line in ``COMMANDS``. Only the module of the command being run is imported (the help
list reads the other docstrings from source), so a light command never imports torch.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import av.error

from facestream.stream.errors import UserError

COMMANDS: dict[str, str] = {
    "swap": "facestream.stream.cli_swap",
    "batch": "facestream.stream.cli_batch",
    "demo": "facestream.stream.cli_demo",
    "train": "facestream.models.train.cli_train",
    "eval": "facestream.models.train.cli_eval",
    "serve": "facestream.demo.server",
    "webcam": "facestream.stream.webcam",
    "landmarks": "facestream.models.cli_landmarks",
}

log = logging.getLogger("facestream")


def _add_global_flags(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show tracebacks and debug logs"
    )
    parser.add_argument(
        "--quiet", action="store_true", default=default, help="no progress bar, errors only"
    )


def _load(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def _summary(module_name: str) -> str:
    """The first docstring line of a command module, read without importing it."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return ""
    docstring = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8")))
    return (docstring or "").strip().split("\n")[0]


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser with every subcommand of ``COMMANDS``; only the one named in ``argv``
    gets its arguments (and its module imported)."""
    parser = argparse.ArgumentParser(
        prog="facestream", description="Real-time face swap for video files and streams."
    )
    _add_global_flags(parser, default=False)
    # FFmpeg's place for -y: before the command too. Its own dest, since a subcommand's
    # parser would reset `overwrite` to its default after this one set it.
    parser.add_argument(
        "-y",
        "--overwrite",
        dest="overwrite_first",
        action="store_true",
        help="replace the command's output if it exists (default: refuse)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # The global flags take no value, so the first other word names the command.
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, module_name in COMMANDS.items():
        summary = _summary(module_name)
        sub = commands.add_parser(name, help=summary, description=summary)
        # SUPPRESS keeps a flag given before the subcommand from being reset by this one.
        _add_global_flags(sub, default=argparse.SUPPRESS)
        if name == chosen:
            _load(name).add_arguments(sub)
            sub.set_defaults(command_parser=sub)
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """``argv`` parsed; an unknown option is reported with its command's usage."""
    parser = build_parser(argv)
    args, unknown = parser.parse_known_args(argv)
    command_parser = vars(args).pop("command_parser", parser)
    if unknown:
        command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if vars(args).pop("overwrite_first"):
        if "overwrite" not in args:
            command_parser.error(f"-y/--overwrite: {args.command} writes no file to replace")
        args.overwrite = True
    return args


def _configure_logging(level: int) -> None:
    # Our own handler on the package logger: the host's root logging setup stays untouched.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("facestream: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signum)


def _stop_like_ctrl_c() -> dict[int, Any]:
    """Make SIGTERM and SIGHUP (``kill``, a closed terminal) stop a command as Ctrl-C does,
    so its unfinished output is removed too; returns the handlers to restore. A signal the
    caller ignores (``nohup``) stays ignored."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is signal.SIG_DFL:
            previous[number] = signal.signal(number, _interrupt)
    return previous


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``facestream`` command; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    level = logging.DEBUG if args.debug else logging.ERROR if args.quiet else logging.INFO
    _configure_logging(level)
    previous = _stop_like_ctrl_c()
    try:
        return int(_load(args.command).run(args))
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, UserError):
            log.error("error: %s", exc)
            return exc.exit_code
        if isinstance(exc, av.error.FFmpegError):
            log.error("error: FFmpeg failed: %s", exc)
        else:
            log.error(
                "internal error: %s: %s (run with --debug for the traceback)",
                type(exc).__name__,
                exc,
            )
        return 1
    except KeyboardInterrupt as exc:
        signum = exc.args[0] if exc.args and isinstance(exc.args[0], int) else signal.SIGINT
        log.error("interrupted; no unfinished output was kept.")
        return 128 + signum
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
