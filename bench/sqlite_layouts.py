"""How fast SQLite alone can store a ledger's batches, journal layout by journal layout.

    .venv/bin/python bench/sqlite_layouts.py                 # 4 layouts x 2 shapes, on /tmp
    .venv/bin/python bench/sqlite_layouts.py --dir /dev/shm --no-checkpoint   # no disk at all

No ledger code runs in the timed loop: every row, hash and balance of 300 batches of 100
transfers is computed first, then each batch is ``BEGIN IMMEDIATE``, three ``executemany``
(transfers, entries, balances) and ``COMMIT``, with the pragmas ``puhui.db.engine`` sets. The
rate is therefore an upper bound for *any* implementation that stores these rows under these
keys, and the layouts show which storage choice moves it:

* ``A`` the journal entries ``WITHOUT ROWID``, keyed by (account, seq): puhui before migration
  0020;
* ``B`` as A, hashes as 32-byte blobs and no stored ``prev_hash`` (it is the previous entry's);
* ``C`` an ordinary rowid table with a unique (account, seq) index: puhui since 0020;
* ``D`` as C with B's narrower rows.

Shapes: ``even`` (user to user over 10,000 accounts) and ``hot`` (every credit to one
account), as in ``bench/ledger.py``. ``--no-checkpoint`` never checkpoints the WAL (not
something to run with: it only shows the checkpoint's share).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

N_ACCOUNTS = 10_000
LAYOUTS = {
    "A": "entries WITHOUT ROWID (puhui before 0020)",
    "B": "A, blob hashes, no prev_hash",
    "C": "entries rowid + (account, seq) index (puhui now)",
    "D": "C, blob hashes, no prev_hash",
}

console = Console(width=120)


def _schema(db: sqlite3.Connection, layout: str) -> None:
    narrow = layout in ("B", "D")
    h = "BLOB" if narrow else "TEXT"
    db.execute(
        "CREATE TABLE acc (id INTEGER PRIMARY KEY, book TEXT, code INT, owner TEXT, name TEXT,"
        " currency TEXT, flags INT, parent_id INT, dp INT, dpo INT, cp INT, cpo INT, seq INT,"
        " head TEXT, created INT)"
    )
    db.execute(
        "CREATE TABLE tr (id TEXT PRIMARY KEY, dr INT, cr INT, amount INT, pending_id TEXT,"
        " code INT, flags INT, timeout INT, expires INT, reference TEXT, book TEXT,"
        " currency TEXT, ts INT, bdate TEXT, rh TEXT) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX ix_tr_bdate ON tr (bdate)")
    cols = "account_id INT, seq INT, transfer_id TEXT, dp INT, dpo INT, cp INT, cpo INT, "
    cols += f"hash {h}" if narrow else f"prev_hash {h}, hash {h}"
    if layout in ("A", "B"):
        db.execute(f"CREATE TABLE en ({cols}, PRIMARY KEY (account_id, seq)) WITHOUT ROWID")
    else:
        db.execute(f"CREATE TABLE en ({cols}, PRIMARY KEY (account_id, seq))")
    db.execute("CREATE INDEX ix_en_transfer ON en (transfer_id)")


class Book:
    """The accounts' running state, to compute rows ahead of the timed loop."""

    def __init__(self, layout: str, shape: str, seed: int) -> None:
        self.narrow = layout in ("B", "D")
        self.shape = shape
        self.rng = random.Random(seed)
        self.seq = [0] * (N_ACCOUNTS + 1)
        self.posted = [[0, 0] for _ in range(N_ACCOUNTS + 1)]
        self.head: list[Any] = [self._hash("genesis")] * (N_ACCOUNTS + 1)

    def _hash(self, *parts: object) -> Any:
        d = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
        return d if self.narrow else d.hex()

    def batch(self, tag: str) -> tuple[list[tuple], list[tuple], list[tuple]]:
        tr, en, touched = [], [], {}
        for j in range(100):
            a, b = self.rng.sample(range(1, N_ACCOUNTS + 1), 2)
            if self.shape == "hot":
                b = 1
            tid = f"{tag}-{j}"
            hx = self._hash("request", tid)
            tr.append(
                (tid, a, b, 5, None, 1, 0, 0, None, None, "custody", "CNY", 1, "2026-11-29", hx)
            )
            for acc, side in ((a, 0), (b, 1)):
                self.seq[acc] += 1
                self.posted[acc][side] += 5
                prev, self.head[acc] = (
                    self.head[acc],
                    self._hash(acc, self.seq[acc], self.head[acc]),
                )
                dpo, cpo = self.posted[acc]
                row = (acc, self.seq[acc], tid, 0, dpo, 0, cpo)
                en.append(row + ((self.head[acc],) if self.narrow else (prev, self.head[acc])))
                touched[acc] = (0, dpo, 0, cpo, self.seq[acc], str(self.head[acc]), acc)
        return tr, en, [touched[k] for k in sorted(touched)]


def run(layout: str, shape: str, folder: Path, preload: int, checkpoint: bool) -> float:
    path = folder / f"puhui-layout-{layout}-{shape}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    pragmas = ["journal_mode=WAL", "synchronous=NORMAL", "cache_size=-32768"]
    pragmas.append(f"wal_autocheckpoint={16000 if checkpoint else 0}")
    for p in pragmas:
        db.execute(f"PRAGMA {p}")
    _schema(db, layout)
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO acc VALUES (?, 'custody', 101, ?, ?, 'CNY', 0, NULL, 0, 0, 0, 0, 0, ?, 0)",
        [(i, f"u{i}", f"user {i}", "0" * 64) for i in range(1, N_ACCOUNTS + 1)],
    )
    db.execute("COMMIT")
    book = Book(layout, shape, seed=1)
    width = 8 if layout in ("B", "D") else 9
    ins_t = f"INSERT INTO tr VALUES ({','.join('?' * 15)})"
    ins_e = f"INSERT INTO en VALUES ({','.join('?' * width)})"
    upd = "UPDATE acc SET dp = ?, dpo = ?, cp = ?, cpo = ?, seq = ?, head = ? WHERE id = ?"

    def write(rows: tuple[list[tuple], list[tuple], list[tuple]]) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(ins_t, rows[0])
        db.executemany(ins_e, rows[1])
        db.executemany(upd, rows[2])
        db.execute("COMMIT")

    for k in range(preload // 100):  # a journal of some size first, as after a while in use
        write(book.batch(f"pre{k}"))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    work = [book.batch(f"run{k}") for k in range(300)]
    t0 = time.perf_counter()
    for rows in work:
        write(rows)
    rate = 100 * len(work) / (time.perf_counter() - t0)
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--preload", type=int, default=100_000, help="transfers written first")
    ap.add_argument("--no-checkpoint", dest="checkpoint", action="store_false")
    ap.add_argument("--layouts", default="ABCD")
    args = ap.parse_args()
    table = Table(title=f"SQLite alone, batches of 100 transfers/s ({args.dir})")
    table.add_column("layout")
    for shape in ("even", "hot"):
        table.add_column(shape, justify="right")
    for layout in args.layouts:
        rates = [run(layout, s, args.dir, args.preload, args.checkpoint) for s in ("even", "hot")]
        console.print(f"{layout}: " + ", ".join(f"{r:,.0f}/s" for r in rates))
        table.add_row(f"{layout}: {LAYOUTS[layout]}", *(f"{r:,.0f}" for r in rates))
    console.print(table)


if __name__ == "__main__":
    main()
