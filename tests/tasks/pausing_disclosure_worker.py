"""A task worker that stops dead inside the first disclosure partition it computes: after the
partition's row is written, before its commit (the task's ``inside`` hook). It writes
"<pid> <partition>" to ``--marker`` when it gets there, then waits for SIGKILL.

Run as a script by tests/tasks/test_disclosure_tasks.py; everything else is the real worker.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from puhui.tasks import worker


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--database", required=True)
    p.add_argument("--broker", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--marker", required=True, type=Path)
    args = p.parse_args()

    def hook(period: str, partition: int, where: str) -> None:
        if where == "inside" and not args.marker.exists():
            args.marker.write_text(f"{os.getpid()} {partition}")
            time.sleep(600)  # until the test kills this process

    worker.run(
        database=args.database,
        broker_url=args.broker,
        queue=args.queue,
        threads=1,
        disclosure_hook=hook,
        on_ready=lambda: print("worker ready", flush=True),
    )


if __name__ == "__main__":
    main()
