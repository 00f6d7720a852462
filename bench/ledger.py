"""Ledger benchmark: our transfer rate against pgbench's TPC-B on the same PostgreSQL.

    .venv/bin/python bench/ledger.py              # full run, about 5 minutes
    .venv/bin/python bench/ledger.py --quick      # smoke run, about a minute
    .venv/bin/python bench/ledger.py --cost postgresql   # one client's cost per transfer

``--cost`` measures what a busy shared machine cannot spoil: one client, no pgbench, the CPU
of the client and of its server backend per transfer and the Python calls per batch. Its timed
loop runs inside ``functools.reduce`` and nothing else does, so instructions can be counted
with ``valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce``
(prepare the ledger without valgrind first: ``--cost-batches 0``).

In one run, on the local PostgreSQL server (fresh databases ``pgbench_bench`` and
``puhui_bench``, dropped at the end):

* pgbench's built-in TPC-B (``pgbench -i -s 10``, then ``-T <duration>``) at each client count;
* ``create_transfers`` at 1, 8 and 32 concurrent clients, one transfer per transaction and
  batches of 100 per transaction, in three shapes: ``even`` (user → user over 10,000 accounts),
  ``hot`` (user → one fee account, every transfer locks the same row) and ``split`` (the fee
  account split with ``create_split_account`` and a shard picked with ``shard_for``);
* batches of 100 on SQLite (a temporary file; one writer, so one client), each followed by
  its baseline, the *storage floor* (``bench/sqlite_floor.py``): the same batches' statements
  with every row computed in advance, on a fresh ledger file, so the ratio shows what our
  Python adds and the floor what SQLite itself allows on this machine.

Clients are processes, each with its own engine: threads would only measure the GIL. While a
case runs, the parent samples ``pg_stat_activity`` (what the server backends wait on: the
client, row locks, WAL flush, or nothing), the machine's CPU, and optionally runs py-spy on one
client. After the run the books are verified: every transfer a client saw ``ok`` is stored
exactly once, no limited account went negative, debits equal credits, and ``verify`` passes.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, Engine, func, select

import sqlite_floor  # bench/ is the script's directory, so it is on sys.path
from puhui.db.engine import make_engine, run_in_transaction
from puhui.db.migrate import alembic_config
from puhui.ledger.codes import AccountCode, AccountFlags, Book, Result, TransferCode
from puhui.ledger.models import accounts, entries, transfers
from puhui.ledger.service import (
    Transfer,
    create_account,
    create_split_account,
    create_transfers,
    create_transfers_committed,
    shard_for,
)
from puhui.ledger.verify import check_books_balance, check_transfer_entries, verify

USER = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
BANK = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
FUNDING = 10_000_000  # fen per user: far more than any run can move out of one account
SHAPES = ("even", "hot", "split")
QUIET = 25.0  # % of the machine used by others above which a case waits for quiet
MODES = (("single", 1), ("batch100", 100))
PG_DB = "puhui_bench"
LEDGER_REVISION = "ledger@head"  # the Alembic revisions that build the ledger tables
PGBENCH_DB = "pgbench_bench"
MAX_ERRORS = 50  # a client stops after this many exceptions; the run then reports them

console = Console(width=160)


# --------------------------------------------------------------------------------------
# cases and results


@dataclass(frozen=True)
class Case:
    db: str  # "postgresql" or "sqlite"
    shape: str  # even | hot | split
    mode: str  # single | batch100
    batch: int
    clients: int
    shard_key: str = "batch"  # split batches: one shard per batch, or "transfer": per transfer
    profile: bool = False
    #: "committed": create_transfers_committed (the ledger owns the transaction);
    #: "caller": run_in_transaction(engine, create_transfers) (the caller owns it).
    api: str = "committed"

    @property
    def name(self) -> str:
        extra = (
            " (shard per transfer)"
            if self.shape == "split" and self.shard_key == "transfer" and self.batch > 1
            else ""
        )
        if self.api == "caller" and self.db == "postgresql":
            extra += " (caller's transaction)"
        return f"{self.db}/{self.shape}/{self.mode}/{self.clients}{extra}"


@dataclass
class CaseResult:
    case: Case
    transfers: int = 0
    txs: int = 0
    elapsed: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    client_cpu_us: float = 0.0  # client CPU per transfer, all clients
    server_cpu_us: float = 0.0  # PostgreSQL CPU per transfer (our backends, WAL writer, ...)
    machine_cpu: float = 0.0  # % of all cores busy during the case
    waits: dict[str, float] = field(default_factory=dict)  # server backend states, %
    cpu_split: dict[str, float] = field(default_factory=dict)  # machine CPU by whom, %
    client_busy: float = 0.0  # % of their wall time the clients spent on CPU
    waited: float = 0.0  # seconds waited for a quiet machine first
    other_tx: float = 0.0  # other databases' transactions/s on the same server meanwhile
    retries: int = 0  # whole-transaction retries inside run_in_transaction (deadlocks, races)
    failures: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    first_error: str | None = None
    profile: dict[str, Any] | None = None

    @property
    def rate(self) -> float:
        return self.transfers / self.elapsed if self.elapsed else 0.0


@dataclass
class Ledger:
    url: str
    master: int
    users: list[int]
    hot: int
    split_parent: int
    shards: list[int]
    funding_transfers: int


# --------------------------------------------------------------------------------------
# client processes


def _submit(
    batch: list[Transfer], conn: Connection, attempts: list[int] | None = None
) -> list[Any]:
    if attempts is not None:
        attempts[0] += 1  # run_in_transaction calls again after a deadlock or lost race
    return create_transfers(conn, batch)


def _apply(
    engine: Engine, batch: list[Transfer], api: str, attempts: list[int] | None = None
) -> list[Any]:
    """One transaction through the API the case measures; ``attempts`` counts tries."""
    if api == "caller":
        return run_in_transaction(engine, partial(_submit, batch, attempts=attempts))

    def count() -> None:
        if attempts is not None:
            attempts[0] += 1

    return create_transfers_committed(engine, batch, on_attempt=count)


def _make_batch(rng: random.Random, spec: dict[str, Any], prefix: str, n: int) -> list[Transfer]:
    users, shape, size = spec["users"], spec["shape"], spec["batch"]
    if shape == "disjoint":  # evenly spread, but each client over its own slice of users
        users = users[spec["wid"] :: spec["clients"]]
    out = []
    batch_key = f"{prefix}{n:x}-0"
    for k in range(size):
        tid = f"{prefix}{n:x}-{k}"
        amount = rng.randint(1, 100)
        if shape in ("even", "disjoint"):
            dr, cr = rng.sample(users, 2)
            out.append(Transfer(tid, dr, cr, amount, TransferCode.DISTRIBUTION))
            continue
        dr = rng.choice(users)
        if shape == "hot":
            cr = spec["hot"]
        else:
            cr = shard_for(spec["shards"], tid if spec["shard_key"] == "transfer" else batch_key)
        out.append(Transfer(tid, dr, cr, amount, TransferCode.FEE))
    return out


def _run_client(wid: int, spec: dict[str, Any], engine: Engine) -> dict[str, Any]:
    spec = {**spec, "wid": wid}
    rng = random.Random(spec["seed"] * 1000 + wid)
    prefix = f"{spec['tag']}w{wid}-"
    prof = cProfile.Profile() if spec.get("cprofile") else None
    ok = txs = errors = 0
    failures: Counter[str] = Counter()
    first_error = None
    lat: list[float] = []
    attempts = [0]
    time.sleep(max(0.0, spec["start_at"] - time.time()))
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + spec["duration"]
    if prof:
        prof.enable()
    try:
        while txs < spec["max_tx"] and time.perf_counter() < deadline:
            batch = _make_batch(rng, spec, prefix, txs + errors)
            ts = time.perf_counter()
            try:
                results = _apply(engine, batch, spec.get("api", "committed"), attempts)
            except Exception as exc:  # reported, never hidden: a benchmark that fails is a bug
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
                if errors >= MAX_ERRORS:
                    break
                continue
            lat.append(time.perf_counter() - ts)
            txs += 1
            for r in results:
                if r.result == Result.OK:
                    ok += 1
                else:
                    failures[r.result.value] += 1
    finally:
        if prof:
            prof.disable()
    out: dict[str, Any] = {
        "ok": ok,
        "txs": txs,
        "errors": errors,
        "first_error": first_error,
        "failures": dict(failures),
        "elapsed": time.perf_counter() - t0,
        "cpu": time.process_time() - cpu0,
        "lat": lat,
        "retries": attempts[0] - txs - errors,
    }
    if prof:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
        out["cprofile"] = buf.getvalue()
    return out


def _worker(wid: int, inbox: Any, outbox: Any) -> None:
    engines: dict[str, Engine] = {}

    def engine_for(url: str) -> Engine:
        if url not in engines:
            engines[url] = make_engine(url, pool_size=1)
        return engines[url]

    while (msg := inbox.get()) is not None:
        try:
            if msg["op"] == "connect":
                with engine_for(msg["url"]).connect() as c:
                    c.exec_driver_sql("SELECT 1")
                outbox.put((wid, {"pid": os.getpid()}))
            elif msg["op"] == "run":
                outbox.put((wid, _run_client(wid, msg, engine_for(msg["url"]))))
            elif msg["op"] == "dispose":
                for e in engines.values():
                    e.dispose()
                engines.clear()
                outbox.put((wid, {}))
        except Exception as exc:
            outbox.put((wid, {"error": f"{type(exc).__name__}: {exc}"[:300]}))


class Clients:
    """A fixed set of client processes, started before the parent opens any connection."""

    def __init__(self, n: int) -> None:
        ctx = mp.get_context("fork")
        self.outbox = ctx.Queue()
        self.inboxes = [ctx.Queue() for _ in range(n)]
        self.procs = [
            ctx.Process(target=_worker, args=(i, q, self.outbox), daemon=True)
            for i, q in enumerate(self.inboxes)
        ]
        for p in self.procs:
            p.start()
        self.pids: dict[int, int] = {}

    def broadcast(self, msg: dict[str, Any], k: int | None = None, timeout: float = 120) -> None:
        k = len(self.inboxes) if k is None else k
        for q in self.inboxes[:k]:
            q.put(msg)
        for _ in range(k):
            wid, r = self.outbox.get(timeout=timeout)
            if "error" in r:
                raise RuntimeError(f"client {wid}: {r['error']}")
            if "pid" in r:
                self.pids[wid] = r["pid"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.broadcast({"op": "dispose"}, timeout=30)
        for q in self.inboxes:
            q.put(None)
        for p in self.procs:
            p.join(timeout=10)


# --------------------------------------------------------------------------------------
# observation: server wait states, machine CPU, py-spy


def _cpu_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals)


def _iowait_ticks() -> int:
    with open("/proc/stat") as f:
        vals = f.readline().split()[1:]
    return int(vals[4]) if len(vals) > 4 else 0


def _proc_ticks() -> dict[int, tuple[int, int, str]]:
    """CPU ticks (user + system), parent pid and command name of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        close = raw.rindex(b")")
        rest = raw[close + 2 :].split()
        comm = raw[raw.index(b"(") + 1 : close].decode(errors="replace")
        out[int(d)] = (int(rest[11]) + int(rest[12]), int(rest[1]), comm)
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class CpuMeter:
    """Split the machine's CPU over a case: our clients, PostgreSQL, the harness, and others.

    The machine is shared (other sessions run tests on it), so every case says how much of
    the machine something else used while it ran; ``wait_for_quiet`` lets that settle first.
    """

    POLL = 0.5  # seconds between process scans, so short-lived backends are seen too

    def __init__(self, dbname: str) -> None:
        self.dbname = dbname
        self.me = os.getpid()

    def start(self) -> None:
        self.m0, self.io0 = _cpu_ticks(), _iowait_ticks()
        self.p0 = {pid: v[0] for pid, v in _proc_ticks().items()}
        self.last: dict[int, int] = dict(self.p0)
        self.kinds: dict[int, str] = {}
        self.polled = time.time()

    def poll(self, force: bool = False) -> None:
        if not force and time.time() - self.polled < self.POLL:
            return
        self.polled = time.time()
        for pid, (ticks, ppid, comm) in _proc_ticks().items():
            if pid not in self.kinds:
                self.kinds[pid] = self._kind(pid, ppid, comm)
            self.last[pid] = ticks

    def stop(self) -> dict[str, float]:
        self.poll(force=True)
        m1 = _cpu_ticks()
        busy, total = m1[0] - self.m0[0], max(1, m1[1] - self.m0[1])
        split = Counter[str]()
        for pid, ticks in self.last.items():
            d = ticks - self.p0.get(pid, 0)
            if d > 0 and pid in self.kinds:
                split[self.kinds[pid]] += d
        split["others"] = max(0, busy - sum(split.values()))
        out = {k: 100 * split[k] / total for k in ("client", "server", "harness", "others")}
        out["idle"] = 100 * (total - busy) / total
        out["iowait"] = 100 * (_iowait_ticks() - self.io0) / total
        return out

    def _kind(self, pid: int, ppid: int, comm: str) -> str:
        if pid == self.me or comm == "py-spy":
            return "harness"
        if ppid == self.me:
            return "client"  # client processes and pgbench
        if comm == "postgres" or comm.startswith("postgres"):
            cmd = _cmdline(pid)
            if self.dbname in cmd.split() or "(" not in cmd:
                return "server"  # our backends, and the shared WAL writer, checkpointer, ...
        return "others"


def _busy_percent(seconds: float) -> float:
    b0, a0 = _cpu_ticks()
    time.sleep(seconds)
    b1, a1 = _cpu_ticks()
    return 100 * (b1 - b0) / max(1, a1 - a0)


OTHER_DB_SQL = (
    "SELECT datname, xact_commit + xact_rollback FROM pg_stat_database "
    "WHERE datname IS NOT NULL AND datname NOT IN (%s, %s)"
)
QUIET_OTHER_TX = 200  # other databases' transactions per second on the same server


def other_db_tx(admin: psycopg.Connection | None) -> dict[str, int]:
    """Transactions so far of every other database on the server (other sessions' tests share
    it, and with it the WAL and its flushes)."""
    if admin is None:
        return {}
    return {d: int(n) for d, n in admin.execute(OTHER_DB_SQL, (PG_DB, PGBENCH_DB))}


def tx_since(before: dict[str, int], after: dict[str, int]) -> int:
    """Transactions between two looks (databases created or dropped meanwhile included)."""
    return sum(max(0, n - before.get(d, 0)) for d, n in after.items())


def wait_for_quiet(
    budget: list[float], max_wait: float, admin: psycopg.Connection | None = None
) -> float:
    """Wait (at most ``max_wait``, and what is left of ``budget``) until the machine and the
    database server are quiet."""
    t0 = time.time()
    while True:
        tx0 = other_db_tx(admin)
        busy = _busy_percent(0.5)
        quiet = busy <= QUIET and tx_since(tx0, other_db_tx(admin)) <= QUIET_OTHER_TX / 2
        waited = time.time() - t0 - 0.5  # the first look is free
        if quiet or waited >= min(max_wait, budget[0]):
            break
    waited = max(0.0, waited)
    budget[0] = max(0.0, budget[0] - waited)
    return waited


class WaitSampler:
    """Tally what the benchmark database's backends are doing, from ``pg_stat_activity``."""

    SQL = (
        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
        "WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )

    def __init__(self, admin: psycopg.Connection | None, dbname: str) -> None:
        self.admin, self.dbname, self.counts = admin, dbname, Counter[str]()

    def sample(self) -> None:
        if self.admin is None:
            return
        for state, wtype, wevent in self.admin.execute(self.SQL, (self.dbname,)):
            self.counts[_classify_wait(state, wtype, wevent)] += 1

    def percentages(self) -> dict[str, float]:
        total = sum(self.counts.values())
        return {k: 100 * v / total for k, v in self.counts.most_common()} if total else {}


def _classify_wait(state: str | None, wtype: str | None, wevent: str | None) -> str:
    if state in ("idle", "idle in transaction"):
        return "client"  # the server waits for the client's next statement
    if wtype is None:
        return "cpu"  # the backend is running
    if wtype == "Lock":
        return "lock"
    if wevent and wevent.startswith("WAL"):
        return "wal"
    if wtype == "Client":
        return "client"
    return "other"


WAIT_KEYS = ("client", "cpu", "lock", "wal", "other")


def _py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


# Where a sample's time goes, judged from the innermost frame whose file we recognise.
def _under(path: str, prefix: str) -> bool:
    """py-spy names files relative to their sys.path entry ("json/encoder.py")."""
    return path.startswith(prefix) or f"/{prefix}" in path


# psycopg functions whose own time is the C library, the socket and the wait for the server.
_DRIVER_IO = {
    "wait",
    "wait_c",
    "_communicate_gen",
    "_fetch_gen",
    "_send_query_prepared",
    "_send_prepare",
    "_execute_send",
    "_exec_command",
    "_flush_gen",
    "_sync_gen",
}
PROFILE_CATEGORIES: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    (
        "PostgreSQL round trips (psycopg send/wait: libpq, sockets, server work, lock waits)",
        lambda fn, f: "psycopg" in f and fn.rpartition(".")[2] in _DRIVER_IO,
    ),
    (
        "sqlite3 C library (commit)",
        lambda fn, f: f.endswith("sqlalchemy/engine/default.py") and fn.endswith("do_commit"),
    ),
    ("SHA-256 chain hashing", lambda fn, f: f.endswith("ledger/hashing.py")),
    ("JSON encoding (stdlib json)", lambda fn, f: _under(f, "json/")),
    ("enum flag arithmetic (enum.py)", lambda fn, f: _under(f, "enum.py")),
    (
        "store.py self (row building; on SQLite the sqlite3 C library executing SQL)",
        lambda fn, f: f.endswith("ledger/store.py"),
    ),
    ("engine.py (run_in_transaction)", lambda fn, f: f.endswith("puhui/db/engine.py")),
    ("ledger logic (service.py, clock)", lambda fn, f: "puhui/" in f),
    ("SQLAlchemy (compile, execute, rows)", lambda fn, f: "sqlalchemy/" in f),
    ("psycopg Python (adapt, send)", lambda fn, f: "psycopg" in f),
    (
        "benchmark client (making transfers)",
        lambda fn, f: f.endswith("ledger.py") and "puhui" not in f,
    ),
)
_FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>[^():]*)(?::\d+)?\)$")


def _parse_frame(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame.strip())
    return (m["fn"], m["file"]) if m else (frame.strip(), "")


def summarise_py_spy(path: Path, top: int = 12) -> dict[str, Any]:
    """Categories, top self frames and inclusive ledger/SQLAlchemy functions of a raw profile."""
    cats: Counter[str] = Counter()
    selfs: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or not stack:
            continue
        count = int(n)
        frames = [_parse_frame(f) for f in stack.split(";")]
        frames = [f for f in frames if f[1]]  # drop process/thread pseudo-frames
        if not any(fn == "_run_client" for fn, _ in frames):
            continue  # another thread (the queue feeder), or before the run started
        total += count
        leaf_fn, leaf_file = frames[-1]
        selfs[f"{leaf_fn} ({_short(leaf_file)})"] += count
        category = "other (stdlib, interpreter)"
        for fn, f in reversed(frames):
            hit = next((name for name, match in PROFILE_CATEGORIES if match(fn, f)), None)
            if hit:
                category = hit
                break
        cats[category] += count
        seen = set()
        for fn, f in frames:
            if "puhui/" in f or fn in (
                "begin",
                "commit",
                "_checkout",
                "_do_ping_w_event",
                "do_ping",
                "__exit__",
                "_execute_clauseelement",
                "_compile_w_cache",
                "_exec_insertmany_context",
            ):
                key = f"{fn} ({_short(f)})"
                if key not in seen:
                    seen.add(key)
                    incl[key] += count
    pct = (lambda c: 100 * c / total) if total else (lambda c: 0.0)
    return {
        "samples": total,
        "categories": {k: pct(v) for k, v in cats.most_common()},
        "self": [(k, pct(v)) for k, v in selfs.most_common(top)],
        "inclusive": [(k, pct(v)) for k, v in incl.most_common(top + 6)],
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


# --------------------------------------------------------------------------------------
# running a case


def run_case(
    clients: Clients,
    case: Case,
    ledger: Ledger,
    args: argparse.Namespace,
    tag: str,
    admin: psycopg.Connection | None,
    seed: int,
) -> CaseResult:
    k = case.clients
    waited = wait_for_quiet(args.quiet_budget, args.quiet_wait, admin)
    start_at = time.time() + 0.3
    spec = {
        "op": "run",
        "url": ledger.url,
        "shape": case.shape,
        "batch": case.batch,
        "users": ledger.users,
        "hot": ledger.hot,
        "shards": ledger.shards,
        "shard_key": case.shard_key,
        "clients": k,
        "duration": args.duration,
        "start_at": start_at,
        "max_tx": 10_000_000,
        "tag": tag,
        "seed": seed,
        "api": case.api,
    }
    spy = _py_spy() if case.profile and args.profile else None
    spec["cprofile"] = bool(case.profile and args.profile and not spy)
    for w in range(k):
        clients.inboxes[w].put({**spec, "cprofile": spec["cprofile"] and w == 0})
    sampler = WaitSampler(admin if case.db == "postgresql" else None, PG_DB)
    meter = CpuMeter(PG_DB)
    tx0, t_start = other_db_tx(admin), time.time()
    time.sleep(max(0.0, start_at - time.time()))
    meter.start()
    spy_proc = spy_out = None
    if spy:
        spy_out = Path(tempfile.mkstemp(prefix="pyspy-", suffix=".txt")[1])
        spy_proc = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(clients.pids[0]),
                "--rate",
                "500",
                "--duration",
                str(max(1, int(args.duration) - 1)),
                "--format",
                "raw",
                "--idle",
                "--nonblocking",
                "--output",
                str(spy_out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    got: dict[int, dict[str, Any]] = {}
    give_up = time.time() + args.duration + 180
    while len(got) < k:
        if time.time() > give_up:
            raise RuntimeError(f"{case.name}: clients did not finish")
        sampler.sample()
        meter.poll()
        with contextlib.suppress(Exception):
            wid, r = clients.outbox.get(timeout=0.1)
            got[wid] = r
    split = meter.stop()
    other_tx = tx_since(tx0, other_db_tx(admin)) / (time.time() - t_start)
    res = CaseResult(case, cpu_split=split, waited=waited, other_tx=other_tx)
    if bad := [r["error"] for r in got.values() if "error" in r]:
        res.errors, res.first_error = len(bad), bad[0]
        return res
    lat = sorted(x for r in got.values() for x in r["lat"])
    res.transfers = sum(r["ok"] for r in got.values())
    res.txs = sum(r["txs"] for r in got.values())
    res.elapsed = max(r["elapsed"] for r in got.values())
    if lat:
        res.p50_ms = 1000 * lat[len(lat) // 2]
        res.p99_ms = 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    cpu = sum(r["cpu"] for r in got.values())
    res.client_cpu_us = 1e6 * cpu / res.transfers if res.transfers else 0.0
    res.machine_cpu = 100 - split["idle"]
    res.client_busy = 100 * cpu / sum(r["elapsed"] for r in got.values())
    if res.transfers and case.db == "postgresql":
        cores = os.cpu_count() or 1
        res.server_cpu_us = 1e6 * split["server"] / 100 * cores * res.elapsed / res.transfers
    res.waits = sampler.percentages()
    failures: Counter[str] = Counter()
    for r in got.values():
        failures.update(r["failures"])
        res.errors += r["errors"]
        res.first_error = res.first_error or r["first_error"]
    res.failures = dict(failures)
    res.retries = sum(r["retries"] for r in got.values())
    if spy_proc is not None and spy_out is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy_proc.wait(timeout=30)
        if spy_out.exists() and spy_out.stat().st_size:
            res.profile = {"tool": "py-spy", **summarise_py_spy(spy_out)}
        spy_out.unlink(missing_ok=True)
    elif got.get(0, {}).get("cprofile"):
        res.profile = {"tool": "cProfile", "text": got[0]["cprofile"]}
    return res


# --------------------------------------------------------------------------------------
# databases


def pg_url(args: argparse.Namespace, db: str) -> str:
    return f"postgresql+psycopg://{args.pg_user}@{args.pg_host}:{args.pg_port}/{db}"


def admin_connect(args: argparse.Namespace) -> psycopg.Connection:
    return psycopg.connect(
        host=args.pg_host, port=args.pg_port, user=args.pg_user, dbname="postgres", autocommit=True
    )


def recreate_db(admin: psycopg.Connection, name: str) -> None:
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')


def setup_ledger(url: str, n_users: int, n_shards: int) -> Ledger:
    """Migrate, open the accounts and fund every user from the custody master."""
    engine = make_engine(url, pool_size=1)
    try:
        # Only the ledger's revision: the benchmark needs nothing else, and a half-written
        # migration of another domain must not stop it.
        command.upgrade(alembic_config(engine), LEDGER_REVISION)

        def open_accounts(c: Connection) -> tuple[int, list[int], int, int, list[int]]:
            custody = Book.CUSTODY
            master = create_account(
                c, book=custody, code=AccountCode.CUSTODY_MASTER, name="custody master", flags=BANK
            )
            users = [
                create_account(c, book=custody, code=AccountCode.LENDER, owner=f"u{i}", flags=USER)
                for i in range(n_users)
            ]
            hot = create_account(c, book=custody, code=AccountCode.PLATFORM_FEE, name="fee")
            parent, shards = create_split_account(
                c, shards=n_shards, book=custody, code=AccountCode.PLATFORM_FEE, name="fee split"
            )
            return master, users, hot, parent, shards

        master, users, hot, parent, shards = run_in_transaction(engine, open_accounts)
        for start in range(0, len(users), 1000):
            chunk = [
                Transfer(f"fund-{u}", master, u, FUNDING, TransferCode.DEPOSIT)
                for u in users[start : start + 1000]
            ]
            results = run_in_transaction(engine, partial(_submit, chunk))
            if not all(r.result == Result.OK for r in results):
                raise RuntimeError(f"funding failed: {results[0]}")
        return Ledger(url, master, users, hot, parent, shards, len(users))
    finally:
        engine.dispose()


def count_round_trips(ledger: Ledger, size: int, api: str = "committed") -> tuple[int, int]:
    """Client→server flights of one transaction of ``size`` evenly spread transfers.

    Read from a libpq trace: the backend's ReadyForQuery messages, one per Sync or simple
    query (a pipeline sends several statements before one Sync). Returns the count and the
    number of transfers applied on the way (warm-up included), for the final books check.
    """
    engine = make_engine(ledger.url, pool_size=1)
    spec = {
        "users": ledger.users,
        "shape": "even",
        "batch": size,
        "hot": ledger.hot,
        "shards": ledger.shards,
        "shard_key": "batch",
        "wid": 0,
        "clients": 1,
    }
    rng = random.Random(size)
    applied = 0
    fd, path = tempfile.mkstemp(prefix="libpq-trace-")
    try:
        for i in range(8):  # past the one-time PREPARE, as in a long-running client
            res = _apply(engine, _make_batch(rng, spec, f"rt{api}{size}-", i), api)
            applied += sum(r.result == Result.OK for r in res)
        with engine.connect() as c:  # pool_size=1: the connection the next call uses
            raw = c.connection.dbapi_connection
        raw.pgconn.trace(fd)  # type: ignore[union-attr]
        res = _apply(engine, _make_batch(rng, spec, f"rt{api}{size}-", 99), api)
        applied += sum(r.result == Result.OK for r in res)
        raw.pgconn.untrace()  # type: ignore[union-attr]
    finally:
        os.close(fd)
        engine.dispose()
    # Each Sync (extended protocol, pipelines) or simple Query ends in one ReadyForQuery, and
    # the client waits for it: one round trip.
    lines = Path(path).read_text().splitlines()
    trips = sum(1 for line in lines if "\tB\t" in f"\t{line}" and "ReadyForQuery" in line)
    Path(path).unlink(missing_ok=True)
    return trips, applied


def tune_pg(admin: psycopg.Connection, args: argparse.Namespace) -> None:
    """No autovacuum on the benchmark's ledger tables: ``vacuum`` runs before each case instead
    (as pgbench vacuums before each run), so no case pays for another's dead rows."""
    with psycopg.connect(
        host=args.pg_host, port=args.pg_port, user=args.pg_user, dbname=PG_DB, autocommit=True
    ) as c:
        for t in ("ledger_accounts", "ledger_transfers", "ledger_entries"):
            c.execute(f"ALTER TABLE {t} SET (autovacuum_enabled = false)")


def vacuum(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM (ANALYZE) ledger_accounts, ledger_transfers, ledger_entries")
    finally:
        engine.dispose()


SQL_CHECKS = "SQL checks (balances = Σ entries, debits = credits, 2 entries per transfer)"
BALANCES_EQUAL_ENTRIES = """
SELECT count(*) FROM ledger_accounts a LEFT JOIN (
    SELECT account_id, sum(debits_pending) dp, sum(debits_posted) dpo,
           sum(credits_pending) cp, sum(credits_posted) cpo, max(seq) seq, count(*) n
    FROM ledger_entries GROUP BY account_id
) e ON e.account_id = a.id
WHERE a.debits_pending <> coalesce(e.dp, 0) OR a.debits_posted <> coalesce(e.dpo, 0)
   OR a.credits_pending <> coalesce(e.cp, 0) OR a.credits_posted <> coalesce(e.cpo, 0)
   OR a.entry_seq <> coalesce(e.seq, 0) OR a.entry_seq <> coalesce(e.n, 0)
"""


def check_books(ledger: Ledger, applied: int, full: bool) -> dict[str, Any]:
    """Prove the run moved money correctly: exactly once, within limits, balanced, chained."""
    engine = make_engine(ledger.url, pool_size=1)
    t0 = time.perf_counter()
    try:
        with engine.connect() as c:
            n_transfers = c.execute(select(func.count()).select_from(transfers)).scalar_one()
            n_entries = c.execute(select(func.count()).select_from(entries)).scalar_one()
            negative = c.execute(
                select(func.count())
                .select_from(accounts)
                .where(
                    accounts.c.flags.op("&")(int(USER)) != 0,
                    accounts.c.debits_posted + accounts.c.debits_pending
                    > accounts.c.credits_posted,
                )
            ).scalar_one()
            if full:
                problems = [str(p) for p in verify(c)]
            else:
                problems = [str(p) for p in check_books_balance(c) + check_transfer_entries(c)]
                off = c.exec_driver_sql(BALANCES_EQUAL_ENTRIES).scalar_one()
                if off:
                    problems.append(f"{off} accounts' balances differ from the sum of entries")
    finally:
        engine.dispose()
    expected = ledger.funding_transfers + applied
    return {
        "transfers": n_transfers,
        "expected": expected,
        "entries": n_entries,
        "negative_balances": negative,
        "problems": problems[:5],
        "problem_count": len(problems),
        "full_verify": full,
        "seconds": time.perf_counter() - t0,
        "ok": n_transfers == expected
        and n_entries == 2 * n_transfers
        and not negative
        and not problems,
    }


# --------------------------------------------------------------------------------------
# pgbench


def pgbench_bin() -> str:
    for cand in (shutil.which("pgbench"), "/usr/lib/postgresql/15/bin/pgbench"):
        if cand and Path(cand).exists():
            return cand
    raise SystemExit("pgbench not found")


def run_pgbench(
    args: argparse.Namespace, admin: psycopg.Connection, clients: Sequence[int]
) -> dict[int, dict[str, Any]]:
    conn = ["-h", args.pg_host, "-p", str(args.pg_port), "-U", args.pg_user]
    recreate_db(admin, PGBENCH_DB)
    subprocess.run(
        [pgbench_bin(), *conn, "-i", "-q", "-s", str(args.pgbench_scale), PGBENCH_DB],
        check=True,
        capture_output=True,
        text=True,
    )
    out = {}
    for c in clients:
        waited = wait_for_quiet(args.quiet_budget, args.quiet_wait, admin)
        sampler = WaitSampler(admin, PGBENCH_DB)
        meter = CpuMeter(PGBENCH_DB)
        tx0, t_start = other_db_tx(admin), time.time()
        meter.start()
        proc = subprocess.Popen(
            [
                pgbench_bin(),
                *conn,
                "-c",
                str(c),
                "-j",
                str(min(c, 2)),
                "-T",
                str(max(1, round(args.duration))),
                PGBENCH_DB,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        while proc.poll() is None:
            sampler.sample()
            meter.poll()
            time.sleep(0.1)
        split = meter.stop()
        other_tx = tx_since(tx0, other_db_tx(admin)) / (time.time() - t_start)
        text = proc.stdout.read() if proc.stdout else ""
        m = re.search(r"^tps = ([\d.]+)", text, re.M)
        if proc.returncode or not m:
            raise RuntimeError(f"pgbench failed:\n{text}")
        out[c] = {
            "tps": float(m[1]),
            "waits": sampler.percentages(),
            "machine_cpu": 100 - split["idle"],
            "cpu_split": split,
            "other_tx": other_tx,
            # busy cores × 1e6 µs / transactions per second = CPU µs per transaction
            "server_cpu_us": split["server"] / 100 * (os.cpu_count() or 1) * 1e6 / float(m[1]),
            "waited": waited,
        }
    return out


# --------------------------------------------------------------------------------------
# reporting


def _fmt_split(s: dict[str, float]) -> str:
    if not s:
        return "-"
    flag = " !" if s["others"] > 15 or s.get("iowait", 0) > 15 else ""
    return f"{s['client']:.0f}/{s['server']:.0f}/{s['others']:.0f}/{s.get('iowait', 0):.0f}{flag}"


def _fmt_waits(w: dict[str, float]) -> str:
    return " ".join(f"{k} {w[k]:.0f}" for k in WAIT_KEYS if w.get(k, 0) >= 0.5) or "-"


def _ratio(r: CaseResult, pgb: dict[int, dict[str, Any]]) -> str:
    c = r.case
    return (
        f"{r.rate / pgb[c.clients]['tps']:.2f}"
        if c.db == "postgresql" and c.clients in pgb
        else "-"
    )


def _shape(c: Case) -> str:
    per_transfer = c.shape == "split" and c.batch > 1 and c.shard_key == "transfer"
    return c.shape + (" (shard per transfer)" if per_transfer else "")


def _failures(r: CaseResult) -> str:
    fails = ", ".join(f"{k} {v}" for k, v in r.failures.items())
    if r.errors:
        fails = (fails + " " if fails else "") + f"errors {r.errors}: {r.first_error}"
    return fails or "0"


RATE_COLUMNS = (
    "db",
    "shape",
    "mode",
    "clients",
    "transfers/s",
    "× pgbench",
    "tx/s",
    "p50 ms",
    "p99 ms",
    "retries",
    "failed",
)
COST_COLUMNS = (
    "db",
    "shape",
    "mode",
    "clients",
    "client CPU µs/transfer",
    "server CPU µs/transfer",
    "client busy %",
    "machine % client/server/others/iowait",
    "other DBs tx/s",
    "server backends %",
)


def rate_rows(results: list[CaseResult], pgb: dict[int, dict[str, Any]]) -> list[list[str]]:
    return [
        [
            r.case.db,
            _shape(r.case),
            r.case.mode,
            str(r.case.clients),
            f"{r.rate:,.0f}",
            _ratio(r, pgb),
            f"{r.txs / r.elapsed if r.elapsed else 0:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.retries:,}",
            _failures(r),
        ]
        for r in results
    ]


def cost_rows(results: list[CaseResult]) -> list[list[str]]:
    return [
        [
            r.case.db,
            _shape(r.case),
            r.case.mode,
            str(r.case.clients),
            f"{r.client_cpu_us:,.0f}",
            f"{r.server_cpu_us:,.0f}" if r.server_cpu_us else "-",
            f"{r.client_busy:.0f}",
            _fmt_split(r.cpu_split),
            f"{r.other_tx:,.0f}",
            _fmt_waits(r.waits),
        ]
        for r in results
    ]


def rich_table(title: str, columns: Sequence[str], rows: list[list[str]]) -> Table:
    t = Table(title=title)
    for col in columns:
        t.add_column(
            col,
            justify="left"
            if col in ("db", "shape", "mode", "failed", "server backends %", "target")
            else "right",
        )
    for row in rows:
        t.add_row(*row)
    return t


def md_table(columns: Sequence[str], rows: list[list[str]]) -> list[str]:
    left = ("db", "shape", "mode", "failed", "server backends %", "target", "category", "function")
    out = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" if c in left else "---:" for c in columns) + "|",
    ]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def pgbench_rows(pgb: dict[int, dict[str, Any]]) -> list[list[str]]:
    return [
        [
            str(c),
            f"{v['tps']:,.0f}",
            f"{v['server_cpu_us']:,.0f}",
            _fmt_split(v["cpu_split"]),
            f"{v['other_tx']:,.0f}",
            _fmt_waits(v["waits"]),
        ]
        for c, v in sorted(pgb.items())
    ]


PGBENCH_COLUMNS = (
    "clients",
    "TPC-B tps",
    "server CPU µs/tx",
    "machine % client/server/others/iowait",
    "other DBs tx/s",
    "server backends %",
)


def _find(results: list[CaseResult], **kw: Any) -> CaseResult | None:
    for r in results:
        c = r.case
        if all(getattr(c, k) == v for k, v in kw.items()) and (
            c.shape != "split" or c.batch == 1 or c.shard_key == "batch"
        ):
            return r
    return None


def targets(
    results: list[CaseResult],
    pgb: dict[int, dict[str, Any]],
    clients: Sequence[int],
    floors: Sequence[dict[str, Any]] = (),
) -> list[tuple[str, float | None, float, str]]:
    """(target, measured, threshold, unit) for every target of the issue."""
    mid = 8 if 8 in clients else max(clients)
    out: list[tuple[str, float | None, float, str]] = []

    def rate(**kw: Any) -> float | None:
        r = _find(results, **kw)
        return r.rate if r else None

    even = rate(db="postgresql", shape="even", mode="single", clients=mid)
    if even is not None and mid in pgb:
        out.append(
            (f"single transfers, {mid} clients, even ÷ pgbench", even / pgb[mid]["tps"], 0.5, "×")
        )
    for mode in ("single", "batch100"):
        base = rate(db="postgresql", shape="even", mode=mode, clients=mid)
        for shape in ("split", "hot"):
            v = rate(db="postgresql", shape=shape, mode=mode, clients=mid)
            if base and v is not None:
                note = "" if shape == "split" else " (unsplit, for reference)"
                out.append((f"{mode}, {mid} clients, {shape} ÷ even{note}", v / base, 0.8, "×"))
    pg_batches = [
        r.rate
        for r in results
        if r.case.db == "postgresql" and r.case.batch > 1 and r.case.shape == "even"
    ]
    if pg_batches:
        v = rate(db="postgresql", shape="even", mode="batch100", clients=mid)
        out.append((f"batch100 on PostgreSQL, even, {mid} clients", v, 20_000, "/s"))
        out.append(
            ("batch100 on PostgreSQL, even, best client count", max(pg_batches), 20_000, "/s")
        )
    v = rate(db="sqlite", shape="even", mode="batch100", clients=1)
    if v is not None:
        out.append(("batch100 on SQLite, even, 1 client", v, 50_000, "/s"))
    for f in floors:  # what SQLite alone allows: a target above it cannot be met by any code
        out.append(
            (
                f"SQLite storage floor, {f['shape']} (no ledger code at all)",
                f["floor"],
                50_000,
                "/s",
            )
        )
    return out


def target_rows(
    rows: list[tuple[str, float | None, float, str]], md: bool = False
) -> list[list[str]]:
    out = []
    for name, v, need, unit in rows:
        fmt = (lambda x: f"{x:.2f}") if unit == "×" else (lambda x: f"{x:,.0f}/s")
        met = v is not None and v >= need
        mark = ("yes" if met else "**no**") if md else ("[green]yes[/]" if met else "[red]no[/]")
        out.append([name, "-" if v is None else fmt(v), f"≥ {fmt(need)}", mark])
    return out


def print_profile(r: CaseResult) -> None:
    p = r.profile
    if not p:
        return
    console.rule(f"profile of one client: {r.case.name} ({p['tool']})")
    if p["tool"] == "cProfile":
        console.print(p["text"])
        return
    t = Table(title=f"where one client's wall time goes ({p['samples']} samples)")
    t.add_column("category")
    t.add_column("%", justify="right")
    for k, v in p["categories"].items():
        t.add_row(k, f"{v:.1f}")
    s = Table(title="top frames (self)")
    s.add_column("frame")
    s.add_column("%", justify="right")
    for k, v in p["self"]:
        s.add_row(k, f"{v:.1f}")
    i = Table(title="inclusive (ledger and engine steps)")
    i.add_column("function")
    i.add_column("%", justify="right")
    for k, v in p["inclusive"]:
        i.add_row(k, f"{v:.1f}")
    console.print(t, s, i)


def markdown(
    results: list[CaseResult],
    pgb: dict[int, dict[str, Any]],
    rows: list[tuple[str, float | None, float, str]],
    trips: dict[str, int],
    floors: list[dict[str, Any]],
) -> str:
    lines = ["pgbench:", "", *md_table(PGBENCH_COLUMNS, pgbench_rows(pgb)), ""]
    lines += ["Rates:", "", *md_table(RATE_COLUMNS, rate_rows(results, pgb)), ""]
    if floors:
        lines += ["SQLite storage floor:", "", *md_table(FLOOR_COLUMNS, floor_rows(floors)), ""]
    lines += ["Costs:", "", *md_table(COST_COLUMNS, cost_rows(results)), ""]
    lines += [
        "Round trips per transaction (libpq trace): "
        + ", ".join(f"{k} {v}" for k, v in trips.items()),
        "",
    ]
    lines += md_table(("target", "measured", "needed", "met"), target_rows(rows, md=True))
    for r in results:
        p = r.profile
        if not p or p["tool"] != "py-spy":
            continue
        lines += [
            "",
            f"Wall-clock profile of one client, {r.case.name} ({p['samples']} samples):",
            "",
        ]
        lines += md_table(("category", "%"), [[k, f"{v:.1f}"] for k, v in p["categories"].items()])
        lines += [""]
        lines += md_table(
            ("function", "% inclusive"), [[f"`{k}`", f"{v:.1f}"] for k, v in p["inclusive"]]
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# main


def sqlite_floors(
    results: list[CaseResult], args: argparse.Namespace, tmp: Path
) -> list[dict[str, Any]]:
    """Each SQLite batch case against the storage floor (``bench/sqlite_floor.py``).

    The floor replays the case's own batches (same seed, same ids) on a freshly set-up
    ledger file, so it starts from a smaller journal than the case did: if anything, the
    floor is flattered, never the ledger.
    """
    out = []
    for i, r in enumerate(results):
        c = r.case
        if c.db != "sqlite" or c.batch == 1 or not r.txs:
            continue
        path = tmp / f"floor-{c.shape}.db"
        ledger = setup_ledger(f"sqlite:///{path}", args.users, args.shards)
        spec = {
            "users": ledger.users,
            "shape": c.shape,
            "batch": c.batch,
            "hot": ledger.hot,
            "shards": ledger.shards,
            "shard_key": c.shard_key,
            "wid": 0,
            "clients": 1,
        }
        # Client 0 of case i ran with seed i and tag c{i} (see main and _run_client).
        rng = random.Random(i * 1000)
        batches = [_make_batch(rng, spec, f"c{i}w0-", n) for n in range(3 * r.txs)]
        work = sqlite_floor.prepare(ledger.url, batches)
        done, seconds = sqlite_floor.run(ledger.url, work, args.duration)
        rate = done / seconds
        out.append({"case": c.name, "shape": c.shape, "ours": r.rate, "floor": rate})
        console.print(
            f"  SQLite floor, {c.shape:<6} {rate:>10,.0f} transfers/s  (ours "
            f"{r.rate:,.0f}/s = {r.rate / rate:.2f} × the floor)"
        )
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return out


FLOOR_COLUMNS = ("shape", "ours /s", "floor /s", "ours ÷ floor")


def floor_rows(floors: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [f["shape"], f"{f['ours']:,.0f}", f"{f['floor']:,.0f}", f"{f['ours'] / f['floor']:.2f}"]
        for f in floors
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 s per case, 1 and 8 clients, 2,000 users, no profile",
    )
    ap.add_argument("--duration", type=float, help="seconds per case (default 8, quick 2)")
    ap.add_argument("--clients", help="comma-separated client counts (default 1,8,32)")
    ap.add_argument("--users", type=int, help="user accounts (default 10,000)")
    ap.add_argument("--shards", type=int, default=64, help="shards of the split fee account")
    ap.add_argument("--pgbench-scale", type=int, default=10)
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, default=5432)
    ap.add_argument("--pg-user", default="postgres")
    ap.add_argument(
        "--filter", help="run only cases whose name contains one of these (comma-separated)"
    )
    ap.add_argument("--no-pgbench", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        default=None,
        help="skip py-spy profiles",
    )
    ap.add_argument(
        "--full-verify-limit",
        type=int,
        default=1_000_000,
        help="run the full chain verify when the database has at most this many "
        "entries (else SQL-level checks only)",
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help=f"seconds a case may wait for other load to drop below {QUIET:g}%% of the machine",
    )
    ap.add_argument(
        "--quiet-budget", type=float, default=45.0, help="total seconds of such waiting per run"
    )
    ap.add_argument("--keep", action="store_true", help="keep the databases")
    ap.add_argument(
        "--cost",
        choices=("postgresql", "sqlite"),
        help="measure one client's cost per transfer only (see the module docstring)",
    )
    ap.add_argument("--cost-batches", type=int, default=200, help="batches per --cost pass")
    ap.add_argument("--cost-size", type=int, default=100, help="transfers per --cost batch")
    ap.add_argument("--cost-shape", choices=("even", "hot", "split"), default="even")
    ap.add_argument("--cost-fresh", action="store_true", help="set the --cost ledger up again")
    ap.add_argument("--markdown", type=Path, help="write the tables as markdown to this file")
    ap.add_argument("--json", type=Path, help="write the raw results as JSON to this file")
    args = ap.parse_args(argv)
    args.duration = args.duration or (2.0 if args.quick else 8.0)
    args.clients = (
        [int(c) for c in args.clients.split(",")]
        if args.clients
        else ([1, 8] if args.quick else [1, 8, 32])
    )
    args.users = args.users or (2_000 if args.quick else 10_000)
    if args.profile is None:
        args.profile = not args.quick
    args.quiet_budget = [args.quiet_budget]  # shared, decremented by every wait
    return args


def plan(args: argparse.Namespace) -> list[Case]:
    cases = []
    for mode, size in MODES:
        for shape in SHAPES:
            for c in args.clients:
                prof = shape == "even" and c in (1, 8)
                cases.append(Case("postgresql", shape, mode, size, c, profile=prof))
    mid = 8 if 8 in args.clients else max(args.clients)
    cases.append(Case("postgresql", "split", "batch100", 100, mid, shard_key="transfer"))
    for mode, size in MODES:
        cases.append(Case("postgresql", "even", mode, size, mid, api="caller"))
    for c in args.clients:
        if c > 1:
            cases.append(Case("postgresql", "disjoint", "batch100", 100, c))
    if not args.no_sqlite:
        cases.append(Case("sqlite", "even", "single", 1, 1))
        for shape in SHAPES:
            cases.append(Case("sqlite", shape, "batch100", 100, 1, profile=shape == "even"))
    if args.filter:
        keep = [f.strip() for f in args.filter.split(",")]
        cases = [c for c in cases if any(k in c.name for k in keep)]
    return cases


COST_PG_DB = "puhui_bench_cost"


def cost(args: argparse.Namespace) -> int:
    """One client's CPU per transfer and Python calls per batch (see the module docstring).

    The ledger is set up once and kept (``--cost-fresh`` sets it up again), so that a run
    under valgrind measures only the transfers; each run adds its transfers to it.
    """
    tmp = Path(tempfile.gettempdir())
    meta = tmp / f"puhui-bench-cost-{args.cost}.json"
    if args.cost == "postgresql":
        url = pg_url(args, COST_PG_DB)
    else:
        url = f"sqlite:///{tmp / 'puhui-bench-cost.db'}"
    if args.cost_fresh or not meta.exists():
        if args.cost == "postgresql":
            recreate_db(admin_connect(args), COST_PG_DB)
        else:
            for suffix in ("", "-wal", "-shm"):
                (tmp / f"puhui-bench-cost.db{suffix}").unlink(missing_ok=True)
        ledger = _timed("set up the ledger", setup_ledger, url, args.users, args.shards)
        meta.write_text(json.dumps(asdict(ledger)))
    ledger = Ledger(**json.loads(meta.read_text()))
    if args.cost_batches <= 0:
        return 0
    engine = make_engine(url, pool_size=1)
    spec = {
        "users": ledger.users,
        "shape": args.cost_shape,
        "batch": args.cost_size,
        "hot": ledger.hot,
        "shards": ledger.shards,
        "shard_key": "batch",
        "wid": 0,
        "clients": 1,
    }
    rng = random.Random(args.cost_batches)
    prefix = f"cost{time.time_ns():x}-"
    n = args.cost_batches
    work = [_make_batch(rng, spec, prefix, i) for i in range(2 * n + 5)]

    def apply(ok: int, batch: list[Transfer]) -> int:
        return ok + sum(r.result is Result.OK for r in create_transfers_committed(engine, batch))

    for batch in work[:5]:  # past the one-time PREPARE and imports
        apply(0, batch)
    backend = None
    if args.cost == "postgresql":
        with engine.connect() as c:  # pool_size=1: the connection the batches use
            backend = c.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    ticks = os.sysconf("SC_CLK_TCK")

    def server_ticks() -> int:
        if backend is None:
            return 0
        fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    s0, c0, w0 = server_ticks(), time.process_time(), time.perf_counter()
    ok = functools.reduce(apply, work[5 : 5 + n], 0)  # the only reduce: callgrind's window
    c1, w1, s1 = time.process_time(), time.perf_counter(), server_ticks()
    prof = cProfile.Profile()
    prof.enable()
    for batch in work[5 + n :]:
        apply(0, batch)
    prof.disable()
    calls = pstats.Stats(prof).total_calls / n  # type: ignore[attr-defined]
    transfers = n * args.cost_size
    server = f"{(s1 - s0) / ticks / transfers * 1e6:.1f}" if backend is not None else "-"
    console.print(
        f"{args.cost} {args.cost_shape} batches of {args.cost_size}: {ok:,} of {transfers:,} ok;"
        f" client CPU {(c1 - c0) / transfers * 1e6:.1f} µs/transfer, server backend CPU "
        f"{server} µs/transfer, wall {(w1 - w0) / transfers * 1e6:.1f} µs/transfer, "
        f"{calls:,.0f} Python calls per batch"
    )
    engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cost:
        return cost(args)
    started = time.time()
    # Clients are forked before the parent opens any connection, so none is shared.
    clients = Clients(max(args.clients))
    admin = admin_connect(args)
    server = admin.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    sync = admin.execute("SHOW synchronous_commit").fetchone()[0]  # type: ignore[index]
    console.rule("puhui ledger benchmark")
    console.print(
        f"machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}, PostgreSQL {server} (synchronous_commit={sync}),"
        f" load average {os.getloadavg()[0]:.2f}"
    )
    code = code_fingerprint()
    console.print(f"code: {code}")
    console.print(
        f"duration {args.duration:g} s per case, clients {args.clients}, "
        f"{args.users:,} users, fee split into {args.shards} shards"
    )
    tmp = Path(tempfile.mkdtemp(prefix="puhui-bench-"))
    results: list[CaseResult] = []
    pgb: dict[int, dict[str, Any]] = {}
    report: dict[str, Any] = {}
    try:
        if not args.no_pgbench:
            console.print(f"pgbench -i -s {args.pgbench_scale}, then -T {args.duration:g} ...")
            pgb = run_pgbench(args, admin, args.clients)
            for c, v in pgb.items():
                console.print(
                    f"  pgbench {c:>3} clients: {v['tps']:>9,.0f} tps   server CPU "
                    f"{v['server_cpu_us']:,.0f} µs/tx   machine % client/server/others "
                    f"{_fmt_split(v['cpu_split'])}   backends {_fmt_waits(v['waits'])}"
                )
            if not args.keep:
                admin.execute(f'DROP DATABASE IF EXISTS "{PGBENCH_DB}" WITH (FORCE)')
        recreate_db(admin, PG_DB)
        ledgers = {
            "postgresql": _timed(
                "set up PostgreSQL ledger",
                setup_ledger,
                pg_url(args, PG_DB),
                args.users,
                args.shards,
            )
        }
        if not args.no_sqlite:
            ledgers["sqlite"] = _timed(
                "set up SQLite ledger",
                setup_ledger,
                f"sqlite:///{tmp / 'bench.db'}",
                args.users,
                args.shards,
            )
        for db, ledger in ledgers.items():
            clients.broadcast({"op": "connect", "url": ledger.url}, k=1 if db == "sqlite" else None)
        applied: Counter[str] = Counter()
        trips: dict[str, int] = {}
        for mode, size in MODES:
            for api in ("committed", "caller"):
                key = mode if api == "committed" else f"{mode} (caller's transaction)"
                trips[key], n = count_round_trips(ledgers["postgresql"], size, api)
                applied["postgresql"] += n
        tune_pg(admin, args)
        for i, case in enumerate(plan(args)):
            if case.db == "postgresql":
                vacuum(ledgers["postgresql"].url)
            r = run_case(clients, case, ledgers[case.db], args, f"c{i}", admin, seed=i)
            applied[case.db] += r.transfers
            results.append(r)
            console.print(
                f"  {case.name:<45} {r.rate:>10,.0f} transfers/s  p50 "
                f"{r.p50_ms:6.1f} ms  backends {_fmt_waits(r.waits)}"
                + (f"  [red]errors {r.errors}: {r.first_error}[/]" if r.errors else "")
            )
        floors = sqlite_floors(results, args, tmp) if not args.no_sqlite else []
        if pgb:
            console.print(rich_table("pgbench TPC-B", PGBENCH_COLUMNS, pgbench_rows(pgb)))
        console.print(
            rich_table(
                "Transfer rate, and its ratio to pgbench at the same number of clients",
                RATE_COLUMNS,
                rate_rows(results, pgb),
            )
        )
        console.print(
            rich_table(
                "Where the time goes: CPU per transfer, machine CPU by whom (! = others above "
                "15%), and what the server backends were doing (pg_stat_activity samples)",
                COST_COLUMNS,
                cost_rows(results),
            )
        )
        console.print(
            "round trips per transaction (libpq trace, evenly spread): "
            + ", ".join(f"{k} {v}" for k, v in trips.items())
        )
        if floors:
            console.print(
                rich_table(
                    "SQLite batches against the storage floor (the same statements, every row"
                    " computed in advance)",
                    FLOOR_COLUMNS,
                    floor_rows(floors),
                )
            )
        rows = targets(results, pgb, args.clients, floors)
        console.print(
            rich_table(
                "Targets (issue 2)", ("target", "measured", "needed", "met"), target_rows(rows)
            )
        )
        for r in results:
            print_profile(r)
        console.rule("verifying the books")
        checks = {}
        for db, ledger in ledgers.items():
            engine = make_engine(ledger.url, pool_size=1)
            with engine.connect() as c:
                n = c.execute(select(func.count()).select_from(entries)).scalar_one()
            engine.dispose()
            checks[db] = check_books(ledger, applied[db], full=n <= args.full_verify_limit)
            v = checks[db]
            colour = "green" if v["ok"] else "red"
            console.print(
                f"[{colour}]{db}: {v['transfers']:,} transfers (expected {v['expected']:,}), "
                f"{v['entries']:,} entries, {v['negative_balances']} negative balances, "
                f"{'full verify' if v['full_verify'] else SQL_CHECKS}: "
                f"{v['problem_count']} problems in {v['seconds']:.1f} s[/]"
            )
            for p in v["problems"]:
                console.print(f"  [red]{p}[/]")
        total = time.time() - started
        console.print(f"whole run: {total:.0f} s")
        report = {
            "machine": {
                "cores": os.cpu_count(),
                "platform": platform.platform(),
                "postgresql": server,
                "synchronous_commit": sync,
            },
            "code": code,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "pgbench": pgb,
            "results": [{**asdict(r), "rate": r.rate} for r in results],
            "targets": rows,
            "verify": checks,
            "round_trips": trips,
            "sqlite_floor": floors,
            "seconds": total,
        }
        if args.markdown:
            args.markdown.write_text(markdown(results, pgb, rows, trips, floors))
        if args.json:
            args.json.write_text(json.dumps(report, indent=1, default=str))
        failed = any(r.errors for r in results) or not all(v["ok"] for v in checks.values())
        return 1 if failed else 0
    finally:
        clients.close()
        if not args.keep:
            for db in (PG_DB, PGBENCH_DB):
                admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            shutil.rmtree(tmp, ignore_errors=True)
        admin.close()


def code_fingerprint() -> str:
    """The commit and a digest of the ledger code as it is in the working tree."""
    import hashlib

    root = Path(__file__).resolve().parent.parent
    files = [*sorted((root / "src/puhui/ledger").glob("*.py")), root / "src/puhui/db/engine.py"]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files if f.exists())).hexdigest()
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head, dirty = "?", ""
    return f"{head}{' + uncommitted changes' if dirty else ''}, ledger code sha256 {digest[:12]}"


def _timed(what: str, fn: Callable[..., Any], *a: Any) -> Any:
    t0 = time.perf_counter()
    out = fn(*a)
    console.print(f"{what}: {time.perf_counter() - t0:.1f} s")
    return out


if __name__ == "__main__":
    sys.exit(main())
