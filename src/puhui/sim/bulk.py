"""Set-based inserts of verified customers, for populations too big for one service call each.

``identity.customers.register`` + ``verify_identity`` cost an argon2 hash, an SMS code, a bank
check and half a dozen statements per person: right for one person at a time, hours for a
million. Here the same rows are written in chunks: ids reserved up front (each sealed value's
associated data names its row id), values sealed with identity's own ``crypto`` functions,
found by its own ``blind_index``, every four-element check asked of the sandbox verifier, and
each chunk written with ``COPY`` on PostgreSQL or ``executemany`` on SQLite. What stays per
row, in Python: one data key, its wrapping and one AES-GCM seal per personal value, and one
HMAC per blind index — the cryptography has no batch form. All simulated customers share one
password hash (the demo password), hashed once. One audit entry records each chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, Table

from puhui.core.clock import Clock, business_date
from puhui.identity import audit, consents, crypto
from puhui.identity.crypto import Keyring, blind_index
from puhui.identity.kyc import FourElements, Verifier
from puhui.identity.models import bank_cards, customers, kyc_results
from puhui.identity.models import consents as consent_rows
from puhui.identity.times import now_us
from puhui.lending import bulk as lending_bulk
from puhui.sim.population import People, birth_dates
from puhui.sim.world import SIM_ACTOR

#: Consents every simulated customer gives: the general ones together, the sensitive ones each
#: on its own (``consents.grant`` refuses them bundled; here they are simply separate rows).
CONSENTS = ("account_service", "credit_assessment", "bank_card", "share_custody_bank")
CHUNK = 5_000


def reserve_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """``n`` fresh primary keys (``lending.bulk.reserve_ids``), as plain ints."""
    return [int(i) for i in lending_bulk.reserve_ids(conn, table, n).tolist()]


def write_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys): ``COPY`` on PostgreSQL, else ``executemany``."""
    if rows:
        cols = list(rows[0])
        lending_bulk.copy_rows(conn, table, cols, (tuple(r[c] for c in cols) for r in rows))


def _sealed(
    keys: Keyring, table: Table, row_id: int, values: dict[str, str | None]
) -> dict[str, Any]:
    cipher, wrapped = crypto.new_record_key(keys, table.name, row_id)
    out: dict[str, Any] = {c: cipher.seal(c, v) for c, v in values.items()}
    out["wrapped_key"], out["key_id"] = wrapped.wrapped, wrapped.key_id
    return out


def insert_customers(
    conn: Connection,
    *,
    keys: Keyring,
    verifier: Verifier,
    people: People,
    rows: np.ndarray,
    password_hash: str,
    clock: Clock,
) -> np.ndarray:
    """Verified customers for ``people[rows]``, with a bank card, a passed KYC result and their
    consents; their ids, in ``rows`` order. Runs in the caller's transaction."""
    out = np.zeros(len(rows), dtype=np.int64)
    today = business_date(clock.now())
    births = birth_dates(people.birth)
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        now = now_us(clock)
        ids = reserve_ids(conn, customers, len(part))
        card_ids = reserve_ids(conn, bank_cards, len(part))
        cust, cards, kyc, given = [], [], [], []
        for cid, card_id, i in zip(ids, card_ids, part, strict=True):
            p_phone, p_name = str(people.phone[i]), str(people.name[i])
            p_id, p_card = str(people.id_number[i]), str(people.card[i])
            outcome = verifier.verify(FourElements(p_name, p_id, p_card, p_phone), today=today)
            if not outcome.passed:
                raise AssertionError(f"the sandbox verifier refused a simulated person: {outcome}")
            cust.append(
                {
                    "id": cid,
                    "kind": "person",
                    "status": "active",
                    "phone_bidx": blind_index(keys, "phone", p_phone),
                    "id_number_bidx": blind_index(keys, "id_number", p_id),
                    "birth_year": births[i].year,
                    "occupation": str(people.occupation[i]),
                    "kyc_status": "verified",
                    "kyc_verified_us": now,
                    "password_hash": password_hash,
                    "password_changed_us": now,
                    "failed_logins": 0,
                    "created_us": now,
                    "updated_us": now,
                    **_sealed(
                        keys,
                        customers,
                        cid,
                        {
                            "phone_ct": p_phone,
                            "name_ct": p_name,
                            "id_number_ct": p_id,
                            "address_ct": f"{people.province[i]}",
                            "income_ct": str(int(people.income_fen[i])),
                            "other_loans_ct": "0",
                        },
                    ),
                }
            )
            cards.append(
                {
                    "id": card_id,
                    "customer_id": cid,
                    "card_bidx": blind_index(keys, "card", p_card),
                    "status": "active",
                    "bound_us": now,
                    **_sealed(keys, bank_cards, card_id, {"card_ct": p_card}),
                }
            )
            digest = blind_index(keys, "kyc", f"{p_name}\x1f{p_id}\x1f{p_card}\x1f{p_phone}")
            kyc.append(
                {
                    "customer_id": cid,
                    "verifier": verifier.name,
                    "outcome": "passed",
                    "reason": outcome.reason,
                    "elements_digest": digest,
                    "created_us": now,
                }
            )
            for code in CONSENTS:
                purpose = consents.PURPOSES[code]
                given.append(
                    {
                        "customer_id": cid,
                        "purpose": code,
                        "kind": "separate" if purpose.sensitive else "general",
                        "document_version": purpose.version,
                        "document_digest": purpose.digest,
                        "granted_us": now,
                        "source_ip": None,
                    }
                )
        write_rows(conn, customers, cust)
        write_rows(conn, bank_cards, cards)
        write_rows(conn, kyc_results, kyc)
        write_rows(conn, consent_rows, given)
        audit.record(
            conn,
            actor=SIM_ACTOR,
            event="sim.customers_seeded",
            object_type="customer",
            object_id=f"{ids[0]}-{ids[-1]}",
            after={"count": len(ids), "kyc": verifier.name, "consents": list(CONSENTS)},
            clock=clock,
        )
        out[start : start + len(part)] = ids
    return out
