"""Worker processes for the task tests: start one and wait until it listens, and the kill of a
paused worker with two fresh ones taking over its messages."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from typing import Any

PUHUI = [sys.executable, "-c", "from puhui.cli import main; main()"]


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """A worker process, returned once it has printed that it is ready."""
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    seen = []
    while not seen or "worker ready" not in seen[-1]:
        line = proc.stdout.readline()
        assert line, "".join(seen)  # it exited before it was ready
        seen.append(line)
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
    return proc


def kill_and_replace(
    procs: list[subprocess.Popen[str]],
    args: list[str],
    env: dict[str, str],
    dispatcher: threading.Thread,
    join_s: float,
) -> None:
    """Two real workers join, the paused one (``procs[0]``) is SIGKILLed mid-transaction, and
    the dispatcher must then finish within ``join_s``."""
    procs += [start([*PUHUI, "worker", "--threads", "2", *args], env) for _ in range(2)]
    procs[0].send_signal(signal.SIGKILL)
    assert procs[0].wait(10) == -signal.SIGKILL
    dispatcher.join(join_s)
    assert not dispatcher.is_alive()


def stop_all(procs: list[subprocess.Popen[str]], broker: Any) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM if p is not procs[0] else signal.SIGKILL)
    for p in procs:
        p.wait(20)
    broker.close()
