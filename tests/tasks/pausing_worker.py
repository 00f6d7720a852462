"""A task worker that stops dead inside one step of the end-of-day batch, so a test can kill
it there: after the step's work, before its commit (the batch's ``inside:{step}`` hook). It
writes its pid to ``--marker`` when it gets there, then waits for SIGKILL.

Run as a script by tests/tasks/test_distributed_eod.py; everything else is the real worker.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date
from pathlib import Path

from puhui.tasks import worker


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--database", required=True)
    p.add_argument("--broker", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--pause-at", required=True, help="e.g. inside:debit")
    p.add_argument("--on", required=True, type=date.fromisoformat, help="business date")
    p.add_argument("--marker", required=True, type=Path)
    args = p.parse_args()

    def hook(day: date, where: str) -> None:
        if day == args.on and where == args.pause_at and not args.marker.exists():
            args.marker.write_text(str(os.getpid()))
            time.sleep(600)  # until the test kills this process

    worker.run(
        database=args.database,
        broker_url=args.broker,
        queue=args.queue,
        threads=1,
        hook=hook,
        on_ready=lambda: print("worker ready", flush=True),
    )


if __name__ == "__main__":
    main()
