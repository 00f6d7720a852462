"""The append-only, hash-chained audit log and its daily Merkle seals (SEC-AUD-01..04).

Every entry records when (UTC instant and the same instant as text with its zone), who (actor,
roles, source IP, request id), what (event type, object, success) and a digest of the object's
state before and after. Each entry's hash covers its fields and the previous entry's hash, so an
edited, deleted or reordered entry breaks the chain. ``seal_day`` then closes a business day:
it stores the RFC 6962 Merkle root of every entry since the last seal, chained to the previous
seal, and ``inclusion_proof`` proves any single sealed entry against that root.

Appends are serialised (one chain): PostgreSQL takes a transaction-scoped advisory lock, SQLite
already holds its write lock from ``BEGIN IMMEDIATE``. The entry is written in the caller's
transaction, so an action and its audit record commit together or not at all; if the entry
cannot be written, ``AuditUnavailable`` is raised and the action is refused (fail closed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from puhui.core.clock import SHANGHAI, Clock, business_date
from puhui.core.errors import Conflict, NotFound, PuhuiError, ValidationError
from puhui.identity import merkle
from puhui.identity.models import audit_log, audit_seals
from puhui.identity.times import now_us

GENESIS = "0" * 64
#: SEC-AUD-03: audit records are kept at least six months (Cybersecurity Law Art. 21).
RETENTION_DAYS = 183
_PG_LOCK = 0x70756875_6175646B  # "puhu" "audk": the audit chain's advisory lock
T = TypeVar("T")

HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "ts_us",
    "business_date",
    "actor",
    "actor_role",
    "source_ip",
    "request_id",
    "event_type",
    "object_type",
    "object_id",
    "success",
    "before_digest",
    "after_digest",
    "detail",
    "prev_hash",
)


class AuditUnavailable(PuhuiError):
    """The audit log cannot be written, so the operation that needed it is refused."""

    type = "api_error"
    status = 503


@dataclass(frozen=True)
class Actor:
    """Who acts, from where: ``principal`` is "staff:3", "customer:12", "cli:ops" or "system"."""

    principal: str
    roles: tuple[str, ...] = ()
    ip: str = "-"
    request_id: str = "-"


SYSTEM = Actor("system")


def state_digest(state: Any) -> str:
    """SHA-256 of a state as canonical JSON. Pass states without raw personal values (field
    names, statuses, blind-index digests), since a plain hash of a phone number is guessable."""
    blob = json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def entry_hash(row: Any) -> str:
    text_ = "\x1f".join(_field_text(row[f]) for f in HASHED_FIELDS)
    return hashlib.sha256(text_.encode()).hexdigest()


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def record(
    conn: Connection,
    *,
    actor: Actor,
    event: str,
    object_type: str,
    object_id: str | int,
    clock: Clock,
    success: bool = True,
    before: Any = None,
    after: Any = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one entry in the caller's transaction; its sequence number."""
    try:
        return _append(
            conn,
            actor=actor,
            event=event,
            object_type=object_type,
            object_id=str(object_id),
            clock=clock,
            success=success,
            before=before,
            after=after,
            detail=detail or {},
        )
    except SQLAlchemyError as exc:
        raise AuditUnavailable(
            "audit_unavailable", "the audit log cannot be written; the operation is refused"
        ) from exc


def audited(conn: Connection, work: Callable[[], T], **entry: Any) -> T:
    """Write the audit entry first and only then run ``work`` (SEC-AUD-04): if the log cannot be
    written, the money operation never starts; both commit in the caller's transaction."""
    record(conn, **entry)
    return work()


def _append(conn: Connection, **e: Any) -> int:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    now = e["clock"].now()
    actor: Actor = e["actor"]
    row = {
        "seq": (last.seq if last else 0) + 1,
        "occurred_at": now.astimezone(SHANGHAI).isoformat(timespec="microseconds"),
        "ts_us": now_us(e["clock"]),
        "business_date": business_date(now),
        "actor": actor.principal,
        "actor_role": ",".join(actor.roles) or "-",
        "source_ip": actor.ip or "-",
        "request_id": actor.request_id or "-",
        "event_type": e["event"],
        "object_type": e["object_type"],
        "object_id": e["object_id"],
        "success": e["success"],
        "before_digest": state_digest(e["before"]),
        "after_digest": state_digest(e["after"]),
        "detail": json.dumps(e["detail"], sort_keys=True, ensure_ascii=False, default=str),
        "prev_hash": last.hash if last else GENESIS,
    }
    row["hash"] = entry_hash(row)
    conn.execute(insert(audit_log).values(**row))
    return row["seq"]


# ------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Entry:
    seq: int
    occurred_at: str
    actor: str
    actor_role: str
    source_ip: str
    request_id: str
    event_type: str
    object_type: str
    object_id: str
    success: bool
    before_digest: str
    after_digest: str
    detail: dict[str, Any]
    hash: str


def list_entries(
    conn: Connection,
    *,
    after_seq: int = 0,
    limit: int = 100,
    object_type: str | None = None,
    object_id: str | None = None,
) -> list[Entry]:
    q = select(audit_log).where(audit_log.c.seq > after_seq)
    if object_type is not None:
        q = q.where(audit_log.c.object_type == object_type)
    if object_id is not None:
        q = q.where(audit_log.c.object_id == object_id)
    rows = conn.execute(q.order_by(audit_log.c.seq).limit(limit)).mappings()
    return [
        Entry(
            **{k: r[k] for k in Entry.__dataclass_fields__ if k != "detail"},
            detail=json.loads(r["detail"]),
        )
        for r in rows
    ]


# --------------------------------------------------------------------------------- seals


@dataclass(frozen=True)
class Seal:
    business_date: date
    first_seq: int
    last_seq: int
    size: int
    merkle_root: str
    hash: str
    created: bool


def seal_hash(row: Any) -> str:
    parts = (
        row["prev_seal_hash"],
        row["business_date"].isoformat(),
        row["first_seq"],
        row["last_seq"],
        row["size"],
        row["merkle_root"],
        row["last_hash"],
    )
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def _leaf(entry_hash_hex: str) -> bytes:
    return merkle.leaf_hash(bytes.fromhex(entry_hash_hex))


def seal_day(conn: Connection, *, business_date: date, clock: Clock) -> Seal:
    """Seal every entry after the last seal up to the end of ``business_date`` (idempotent)."""
    done = conn.execute(select(audit_seals).where(audit_seals.c.business_date == business_date))
    if (row := done.mappings().first()) is not None:
        return _seal(row, created=False)
    last = _last_seal(conn)
    if last is not None and last["business_date"] > business_date:
        raise Conflict(
            "audit_later_day_sealed",
            f"{last['business_date']} is already sealed; earlier days cannot be sealed now",
        )
    after = last["last_seq"] if last else 0
    rows = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash)
        .where(audit_log.c.seq > after, audit_log.c.business_date <= business_date)
        .order_by(audit_log.c.seq)
    ).all()
    if rows and rows[0].seq != after + 1:
        raise Conflict("audit_chain_gap", f"audit entry {after + 1} is missing; run audit verify")
    values = {
        "business_date": business_date,
        "first_seq": after + 1,
        "last_seq": rows[-1].seq if rows else after,
        "size": len(rows),
        "merkle_root": merkle.root([_leaf(r.hash) for r in rows]).hex(),
        "last_hash": rows[-1].hash if rows else (last["last_hash"] if last else GENESIS),
        "prev_seal_hash": last["hash"] if last else GENESIS,
        "created_us": now_us(clock),
    }
    values["hash"] = seal_hash(values)
    conn.execute(insert(audit_seals).values(**values))
    return _seal(values, created=True)


def _last_seal(conn: Connection) -> Any:
    q = select(audit_seals).order_by(audit_seals.c.last_seq.desc(), audit_seals.c.id.desc())
    return conn.execute(q.limit(1)).mappings().first()


def _seal(row: Any, *, created: bool) -> Seal:
    return Seal(
        row["business_date"],
        row["first_seq"],
        row["last_seq"],
        row["size"],
        row["merkle_root"],
        row["hash"],
        created,
    )


@dataclass(frozen=True)
class InclusionProof:
    """Proof that entry ``seq`` is leaf ``index`` of the ``size``-leaf tree sealed on a day."""

    seq: int
    business_date: date
    index: int
    size: int
    entry_hash: str
    path: tuple[str, ...]
    merkle_root: str

    def verify(self) -> bool:
        return merkle.verify_inclusion(
            _leaf(self.entry_hash),
            self.index,
            self.size,
            [bytes.fromhex(p) for p in self.path],
            bytes.fromhex(self.merkle_root),
        )


def inclusion_proof(conn: Connection, *, seq: int) -> InclusionProof:
    seal = (
        conn.execute(
            select(audit_seals).where(audit_seals.c.first_seq <= seq, audit_seals.c.last_seq >= seq)
        )
        .mappings()
        .first()
    )
    if seal is None:
        raise NotFound("audit_entry_not_sealed", f"audit entry {seq} is not in a sealed day")
    hashes = (
        conn.execute(
            select(audit_log.c.hash)
            .where(audit_log.c.seq.between(seal["first_seq"], seal["last_seq"]))
            .order_by(audit_log.c.seq)
        )
        .scalars()
        .all()
    )
    leaves = [_leaf(h) for h in hashes]
    index = seq - seal["first_seq"]
    return InclusionProof(
        seq=seq,
        business_date=seal["business_date"],
        index=index,
        size=seal["size"],
        entry_hash=hashes[index],
        path=tuple(p.hex() for p in merkle.inclusion_proof(leaves, index)),
        merkle_root=seal["merkle_root"],
    )


# -------------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class Problem:
    seq: int | None
    kind: str  # edited | missing | reordered | seal_mismatch | seal_chain
    message: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.seq}: {self.message}"


@dataclass
class _Walk:
    problems: list[Problem] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)


def verify(conn: Connection, *, progress: Callable[[int], None] | None = None) -> list[Problem]:
    """Recompute every entry hash, the chain and every seal; the problems found, first first."""
    walk = _Walk()
    seals = conn.execute(select(audit_seals).order_by(audit_seals.c.last_seq)).mappings().all()
    expected_seq, prev = _chain_start(conn, seals, walk)
    for n, row in enumerate(_entries(conn), start=1):
        if row["seq"] != expected_seq:
            walk.problems.append(
                Problem(
                    expected_seq, "missing", f"entries {expected_seq}..{row['seq'] - 1} are gone"
                )
            )
        if row["prev_hash"] != prev:
            walk.problems.append(
                Problem(row["seq"], "reordered", "does not follow the entry before it")
            )
        if entry_hash(row) != row["hash"]:
            walk.problems.append(
                Problem(row["seq"], "edited", "its content no longer matches its hash")
            )
        walk.hashes[row["seq"]] = row["hash"]
        expected_seq, prev = row["seq"] + 1, row["hash"]
        if progress is not None and n % 10_000 == 0:
            progress(n)
    _check_seals(seals, walk)
    return sorted(walk.problems, key=lambda p: (p.seq or 0, p.kind))


def _entries(conn: Connection) -> Iterator[Any]:
    result = conn.execute(  # per statement, not conn.execution_options(): that sticks
        select(audit_log).order_by(audit_log.c.seq), execution_options={"yield_per": 5000}
    )
    yield from result.mappings()


def _chain_start(conn: Connection, seals: Any, walk: _Walk) -> tuple[int, str]:
    """Where the chain must start: entry 1, or after a sealed range purged under retention."""
    first = conn.execute(select(func.min(audit_log.c.seq))).scalar()
    if first is None or first == 1:
        return 1, GENESIS
    anchor = next((s for s in seals if s["last_seq"] == first - 1), None)
    if anchor is None:
        walk.problems.append(Problem(1, "missing", f"entries before {first} are gone"))
        return 1, GENESIS
    return first, anchor["last_hash"]


def _check_seals(seals: Any, walk: _Walk) -> None:
    prev = GENESIS
    for s in seals:
        if s["prev_seal_hash"] != prev or seal_hash(s) != s["hash"]:
            walk.problems.append(
                Problem(s["last_seq"], "seal_chain", f"seal of {s['business_date']} was altered")
            )
        prev = s["hash"]
        hashes = [walk.hashes.get(q) for q in range(s["first_seq"], s["last_seq"] + 1)]
        purged = s["size"] == 0 or s["last_seq"] < min(walk.hashes, default=0)
        if purged and all(h is None for h in hashes):
            continue  # an empty day, or a day purged under the retention rule
        present = [h for h in hashes if h is not None]
        root = merkle.root([_leaf(h) for h in present]).hex()
        if len(present) != s["size"] or root != s["merkle_root"]:
            walk.problems.append(
                Problem(
                    s["first_seq"],
                    "seal_mismatch",
                    f"entries {s['first_seq']}..{s['last_seq']} differ from the seal of "
                    f"{s['business_date']}",
                )
            )
        elif present and present[-1] != s["last_hash"]:
            walk.problems.append(
                Problem(
                    s["last_seq"],
                    "seal_mismatch",
                    f"the seal of {s['business_date']} names another last entry",
                )
            )
    if seals and walk.hashes and max(walk.hashes) < seals[-1]["last_seq"]:
        walk.problems.append(
            Problem(max(walk.hashes) + 1, "missing", "sealed entries at the end are gone")
        )


# ----------------------------------------------------------------------------- retention


def purge_before(conn: Connection, *, before: date, clock: Clock) -> int:
    """Delete entries of sealed days before ``before``; refuses to cut into the retention floor
    (SEC-AUD-03). The seal of the last purged day stays and anchors the remaining chain."""
    floor = business_date(clock.now()) - timedelta(days=RETENTION_DAYS)
    if before > floor:
        raise ValidationError(
            "audit_retention_floor",
            f"audit records are kept {RETENTION_DAYS} days: nothing after {floor} may go",
            field="before",
        )
    anchor = conn.execute(
        select(audit_seals.c.last_seq)
        .where(audit_seals.c.business_date < before)
        .order_by(audit_seals.c.last_seq.desc())
        .limit(1)
    ).scalar()
    if anchor is None:
        return 0
    return conn.execute(delete(audit_log).where(audit_log.c.seq <= anchor)).rowcount
