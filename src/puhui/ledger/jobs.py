"""Ledger end-of-day steps: void expired pending transfers, seal the day's chain heads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, insert, select

from puhui.core.clock import SYSTEM_CLOCK, Clock
from puhui.ledger import hashing
from puhui.ledger.codes import TransferFlags
from puhui.ledger.models import GENESIS_HASH, accounts, seal_heads, seals, transfers
from puhui.ledger.service import Transfer, TransferResult, _now_us, create_transfers


def expiry_id(pending_id: str) -> str:
    """The id of the void that expires a pending transfer: fixed, so a rerun applies nothing."""
    return "exp-" + hashlib.sha256(pending_id.encode()).hexdigest()[:40]


def expire_pending(
    conn: Connection, *, clock: Clock = SYSTEM_CLOCK, limit: int = 10_000
) -> list[TransferResult]:
    """Void every pending transfer whose timeout has passed and that is still open."""
    resolved = transfers.alias("resolved")
    q = (
        select(transfers.c.id)
        .outerjoin(resolved, resolved.c.pending_id == transfers.c.id)
        .where(transfers.c.expires_us <= _now_us(clock), resolved.c.id.is_(None))
        .order_by(transfers.c.expires_us, transfers.c.id)
        .limit(limit)
    )
    due = list(conn.execute(q).scalars())
    batch = [
        Transfer(
            id=expiry_id(pid), pending_id=pid, flags=TransferFlags.VOID_PENDING, reference="expired"
        )
        for pid in due
    ]
    return create_transfers(conn, batch, clock=clock)


@dataclass(frozen=True)
class Seal:
    business_date: date
    hash: str
    account_count: int
    created: bool


def seal_day(conn: Connection, *, business_date: date, clock: Clock = SYSTEM_CLOCK) -> Seal:
    """Hash the heads of every account chain that moved since the last seal.

    Published or stored away from the database, a seal makes rewriting history before it
    detectable even by someone who recomputes every entry hash.
    """
    done = conn.execute(select(seals).where(seals.c.business_date == business_date)).first()
    if done is not None:
        return Seal(business_date, done.hash, done.account_count, created=False)
    last = conn.execute(select(seals.c.hash).order_by(seals.c.id.desc()).limit(1)).scalar()
    sealed = (
        select(seal_heads.c.account_id, func.max(seal_heads.c.seq).label("seq"))
        .group_by(seal_heads.c.account_id)
        .subquery()
    )
    q = (
        select(accounts.c.id, accounts.c.entry_seq, accounts.c.head_hash)
        .outerjoin(sealed, sealed.c.account_id == accounts.c.id)
        .where(accounts.c.entry_seq > func.coalesce(sealed.c.seq, 0))
        .order_by(accounts.c.id)
    )
    heads = [(r.id, r.entry_seq, r.head_hash) for r in conn.execute(q)]
    prev = last or GENESIS_HASH
    h = hashing.seal_hash(prev, business_date.isoformat(), heads)
    seal_id = conn.execute(
        insert(seals).values(
            business_date=business_date,
            prev_hash=prev,
            hash=h,
            account_count=len(heads),
            created_us=_now_us(clock),
        )
    ).inserted_primary_key[0]
    if heads:
        conn.execute(
            insert(seal_heads),
            [
                {"seal_id": seal_id, "account_id": a, "seq": s, "head_hash": hh}
                for a, s, hh in heads
            ],
        )
    return Seal(business_date, h, len(heads), created=True)
