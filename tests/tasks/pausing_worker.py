"""A task worker that stops dead inside one partition of a job, so a test can kill it there:
after the partition's work, before its commit. It writes its pid to ``--marker`` when it gets
there (``"<pid> <partition>"`` for the disclosure), then waits for SIGKILL.

* ``--job eod`` (tests/tasks/test_distributed_eod.py): inside the step ``--pause-at`` (for
  example ``inside:debit``) of the business date ``--on``;
* ``--job disclosure`` (tests/tasks/test_disclosure_tasks.py): inside the first disclosure
  partition it computes.

Run as a script; everything else is the real worker.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date
from pathlib import Path
from typing import Any

from puhui.tasks import worker


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--job", choices=("eod", "disclosure"), default="eod")
    p.add_argument("--database", required=True)
    p.add_argument("--broker", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--pause-at", help="eod: e.g. inside:debit")
    p.add_argument("--on", type=date.fromisoformat, help="eod: the business date")
    p.add_argument("--marker", required=True, type=Path)
    args = p.parse_args()

    def pause(mark: str) -> None:
        if not args.marker.exists():
            args.marker.write_text(mark)
            time.sleep(600)  # until the test kills this process

    def eod_hook(day: date, where: str) -> None:
        if day == args.on and where == args.pause_at:
            pause(str(os.getpid()))

    def disclosure_hook(period: str, partition: int, where: str) -> None:
        if where == "inside":
            pause(f"{os.getpid()} {partition}")

    hooks: dict[str, Any] = (
        {"hook": eod_hook} if args.job == "eod" else {"disclosure_hook": disclosure_hook}
    )
    worker.run(
        database=args.database,
        broker_url=args.broker,
        queue=args.queue,
        threads=1,
        on_ready=lambda: print("worker ready", flush=True),
        **hooks,
    )


if __name__ == "__main__":
    main()
