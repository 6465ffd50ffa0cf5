"""A storage that fails on purpose, to test the batch's retries inside Ray's worker processes.

``flaky:///abs/path`` reads a local file, but its downloads raise ``ConnectionError`` as
many times as ``path.fail`` says (a number, or ``always``), or end the whole process the
first time when it says ``exit`` (a worker that dies); ``path.attempts`` counts every
download, across processes. Ray workers register it through ``install``, their
``worker_process_setup_hook``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import fsspec


class FlakyFileSystem(fsspec.AbstractFileSystem):
    """Remote-looking (not a LocalFileSystem), so the batch downloads from it."""

    protocol = "flaky"
    root_marker = "/"

    def get_file(self, rpath: str, lpath: str, **kwargs: object) -> None:
        source = Path(self._strip_protocol(rpath))
        counter = source.with_name(source.name + ".attempts")
        attempts = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(attempts))
        fail = source.with_name(source.name + ".fail")
        plan = fail.read_text().strip() if fail.exists() else "0"
        if plan == "exit":
            if attempts == 1:
                os._exit(1)
        elif plan == "always" or attempts <= int(plan):
            raise ConnectionError(f"connection reset while reading {source.name}")
        shutil.copyfile(source, lpath)


def install() -> None:
    fsspec.register_implementation("flaky", FlakyFileSystem, clobber=True)
