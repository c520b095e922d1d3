"""A job the jobs tests control: it notes each start in a file, sleeps, and notes its completion once."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dukaan.jobs import job


@job("test.slow")
def slow(path: str, seconds: float) -> None:
    log = Path(path)
    with log.open("a") as out:
        out.write(f"start {os.getpid()}\n")
    time.sleep(seconds)
    if "done" not in log.read_text():  # idempotent, as every job must be
        with log.open("a") as out:
            out.write("done\n")
