"""Customers: registration, real-name verification, bank cards, profile, and their own data.

Personal values are sealed at rest (``sealed``) and found by blind index; every view returned
here is masked (identifiers.md): ``view`` for the holder and for staff, ``unmask`` only for the
staff endpoint that checks the permission, takes a reason and audits the access. One identity,
one customer: the phone and the ID number are unique through their blind indexes. No investing
or borrowing before verification passes (``require_verified``; P2P-OBL-03, AML-KYC-01).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, func, insert, select, true, update

from puhui.core.clock import Clock, business_date
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.core.money import check_fen
from puhui.identity import audit, consents, otp, passwords, sessions
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring, blind_index
from puhui.identity.errors import Forbidden, NotAuthenticated, Refused
from puhui.identity.identifiers import (
    mask_address,
    mask_card,
    mask_id,
    mask_name,
    mask_phone,
    parse_bank_card,
    parse_mobile,
    parse_resident_id,
    parse_uscc,
    require_adult,
)
from puhui.identity.kyc import FourElements, Verifier
from puhui.identity.models import bank_cards, customers, data_requests, entities, kyc_results
from puhui.identity.otp import SmsSender
from puhui.identity.sealed import insert_sealed, open_columns, update_sealed
from puhui.identity.times import now_us

#: Customer identity and transaction records are kept 5 years (AML; custody rules, §2, §6).
RETENTION_YEARS = 5
PERSONAL = ("phone_ct", "name_ct", "id_number_ct", "address_ct", "income_ct", "other_loans_ct")
UNMASKABLE = ("phone", "name", "id_number", "address")


def _row(conn: Connection, customer_id: int) -> Any:
    row = conn.execute(select(customers).where(customers.c.id == customer_id)).first()
    if row is None:
        raise NotFound("customer_not_found", "no such customer")
    return row


# ------------------------------------------------------------------------- registration


def send_code(
    conn: Connection,
    *,
    keys: Keyring,
    phone: str,
    purpose: str,
    sender: SmsSender,
    clock: Clock,
) -> None:
    """Send a one-time code. The caller answers the same whatever happened here: a code for
    registration goes only to a new phone (an existing one is told it has an account), a
    login code only to a customer's phone, so the answer says nothing about who is one."""
    phone = parse_mobile(phone)
    if purpose not in otp.PURPOSES:
        raise ValidationError(
            "code_purpose_unknown", f"no code purpose {purpose!r}", field="purpose"
        )
    bidx = blind_index(keys, "phone", phone)
    exists = conn.execute(select(customers.c.id).where(customers.c.phone_bidx == bidx)).first()
    if purpose in ("register", "new_phone") and exists is not None:
        sender.send(phone, "【普惠】该手机号已注册，如非本人操作请忽略。")
        return
    if purpose in ("login", "step_up") and exists is None:
        return
    code = otp.issue_code(conn, keys=keys, phone_bidx=bidx, purpose=purpose, clock=clock)
    sender.send(phone, f"【普惠】验证码 {code}，5分钟内有效，请勿告知他人。")


def register(
    conn: Connection,
    *,
    keys: Keyring,
    phone: str,
    password: str,
    code: str,
    kind: Literal["person", "entity"],
    actor: Actor,
    clock: Clock,
) -> int:
    phone = parse_mobile(phone)
    passwords.check_policy(password, forbidden=(phone,))
    bidx = _proven_new_phone(conn, keys, phone, "register", code, clock)
    now = now_us(clock)
    hashed = passwords.hash_password(password)
    customer_id = insert_sealed(
        conn,
        keys,
        customers,
        plain={
            "kind": kind,
            "status": "active",
            "phone_bidx": bidx,
            "kyc_status": "unverified",
            "password_hash": hashed,
            "password_changed_us": now,
            "failed_logins": 0,
            "created_us": now,
            "updated_us": now,
        },
        sealed={"phone_ct": phone},
    )
    passwords.remember(conn, principal=f"customer:{customer_id}", password_hash=hashed, clock=clock)
    audit.record(
        conn,
        actor=actor,
        event="customer.register",
        object_type="customer",
        object_id=customer_id,
        after={"kind": kind, "status": "active"},
        clock=clock,
    )
    return customer_id


def _proven_new_phone(
    conn: Connection, keys: Keyring, phone: str, purpose: str, code: str, clock: Clock
) -> str:
    """The blind index of a phone no customer has, proven by the code sent to it. A taken
    phone answers like a wrong code (it was never sent one), so nobody learns who is a customer."""
    bidx = blind_index(keys, "phone", phone)
    wrong = ValidationError("code_invalid", "the code is wrong or has expired", field="code")
    if not otp.use_code(conn, keys=keys, phone_bidx=bidx, purpose=purpose, code=code, clock=clock):
        raise Refused(wrong)
    if conn.execute(select(customers.c.id).where(customers.c.phone_bidx == bidx)).first():
        raise wrong
    return bidx


# --------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class EntityView:
    name: str
    uscc: str
    legal_rep_name: str
    legal_rep_id_number: str
    registered_capital_fen: int


@dataclass(frozen=True)
class CustomerView:
    """A customer as shown: personal values masked."""

    id: int
    kind: str
    status: str
    kyc_status: str
    phone: str | None
    name: str | None
    id_number: str | None
    address: str | None
    occupation: str | None
    annual_income_fen: int | None
    other_loans_fen: int | None
    team_id: int | None
    created_us: int
    entity: EntityView | None


def _mask(values: dict[str, str | None], mode: Literal["holder", "lender"]) -> dict[str, Any]:
    def m(key: str, fn: Any) -> str | None:
        v = values.get(key)
        return fn(v) if v else None

    return {
        "phone": m("phone_ct", mask_phone),
        "name": m("name_ct", mask_name),
        "id_number": m("id_number_ct", lambda v: mask_id(v, mode=mode)),
        "address": m("address_ct", mask_address),
    }


def view(
    conn: Connection,
    *,
    keys: Keyring,
    customer_id: int,
    mode: Literal["holder", "lender"] = "holder",
) -> CustomerView:
    row = _row(conn, customer_id)
    values = open_columns(keys, customers, row, PERSONAL)
    return CustomerView(
        id=row.id,
        kind=row.kind,
        status=row.status,
        kyc_status=row.kyc_status,
        **_mask(values, mode),
        occupation=row.occupation,
        annual_income_fen=_int(values["income_ct"]),
        other_loans_fen=_int(values["other_loans_ct"]),
        team_id=row.team_id,
        created_us=row.created_us,
        entity=_entity_view(conn, keys, row.id),
    )


def _int(text: str | None) -> int | None:
    return int(text) if text is not None else None


def _entity_view(conn: Connection, keys: Keyring, customer_id: int) -> EntityView | None:
    row = conn.execute(select(entities).where(entities.c.customer_id == customer_id)).first()
    if row is None:
        return None
    v = open_columns(keys, entities, row, ("legal_rep_name_ct", "legal_rep_id_ct"))
    return EntityView(
        row.name,
        row.uscc,
        mask_name(v["legal_rep_name_ct"] or ""),
        mask_id(v["legal_rep_id_ct"] or "", mode="holder"),
        row.registered_capital_fen,
    )


def unmask(
    conn: Connection, *, keys: Keyring, customer_id: int, fields: list[str]
) -> dict[str, str | None]:
    """Plain values of the named fields; only for the audited staff endpoint."""
    bad = [f for f in fields if f not in UNMASKABLE]
    if bad or not fields:
        raise ValidationError(
            "field_not_unmaskable", f"unmaskable fields: {', '.join(UNMASKABLE)}", field="fields"
        )
    values = open_columns(
        keys, customers, _row(conn, customer_id), tuple(f"{f}_ct" for f in fields)
    )
    return {f: values[f"{f}_ct"] for f in fields}


# ------------------------------------------------------------------ real-name verification


@dataclass(frozen=True)
class KycResult:
    id: int
    passed: bool
    reason: str
    created_us: int


def verify_identity(
    conn: Connection,
    *,
    keys: Keyring,
    verifier: Verifier,
    customer_id: int,
    name: str,
    id_number: str,
    card_number: str,
    actor: Actor,
    clock: Clock,
) -> KycResult:
    """Four-element verification; on success the name and ID are recorded and the card bound."""
    row = _row(conn, customer_id)
    if row.kyc_status == "verified":
        raise Conflict("already_verified", "this customer is already verified")
    today = business_date(clock.now())
    rid = parse_resident_id(id_number, today=today)
    require_adult(rid, today=today)
    card = parse_bank_card(card_number)
    name = _name(name)
    consents.require(conn, customer_id=customer_id, purpose="bank_card")
    id_bidx = blind_index(keys, "id_number", rid.number)
    owner = conn.execute(
        select(customers.c.id).where(customers.c.id_number_bidx == id_bidx)
    ).scalar()
    if owner is not None and owner != customer_id:
        raise Conflict("identity_taken", "this identity already has an account", field="id_number")
    phone = open_columns(keys, customers, row, ("phone_ct",))["phone_ct"] or ""
    outcome = verifier.verify(FourElements(name, rid.number, card, phone), today=today)
    digest = blind_index(keys, "kyc", f"{name}\x1f{rid.number}\x1f{card}\x1f{phone}")
    now = now_us(clock)
    result_id = conn.execute(
        insert(kyc_results).values(
            customer_id=customer_id,
            verifier=verifier.name,
            outcome="passed" if outcome.passed else "failed",
            reason=outcome.reason,
            elements_digest=digest,
            created_us=now,
        )
    ).inserted_primary_key[0]
    status = "verified" if outcome.passed else "failed"
    plain: dict[str, Any] = {"kyc_status": status, "updated_us": now}
    sealed: dict[str, str | None] = {}
    if outcome.passed:
        plain |= {
            "id_number_bidx": id_bidx,
            "birth_year": rid.birth_date.year,
            "kyc_verified_us": now,
        }
        sealed = {"name_ct": name, "id_number_ct": rid.number}
    update_sealed(conn, keys, customers, row, sealed=sealed, plain=plain)
    if outcome.passed:
        _insert_card(conn, keys, customer_id, card, now)
    audit.record(
        conn,
        actor=actor,
        event="customer.kyc",
        object_type="customer",
        object_id=customer_id,
        success=outcome.passed,
        before={"kyc_status": row.kyc_status},
        after={"kyc_status": status},
        detail={"verifier": verifier.name, "reason": outcome.reason, "result": result_id},
        clock=clock,
    )
    return KycResult(result_id, outcome.passed, outcome.reason, now)


def _name(name: str) -> str:
    name = name.strip()
    if not 2 <= len(name) <= 40:
        raise ValidationError("name_invalid", "a name has 2 to 40 characters", field="name")
    return name


def require_verified(conn: Connection, *, customer_id: int) -> None:
    """No investing, borrowing or moving money before real-name verification passes."""
    row = _row(conn, customer_id)
    if row.kyc_status != "verified" or row.status != "active":
        raise Forbidden("verification_required", "complete real-name verification first")


# ---------------------------------------------------------------------------- bank cards


@dataclass(frozen=True)
class Card:
    id: int
    card_number: str  # masked
    status: str
    bound_us: int


def _insert_card(conn: Connection, keys: Keyring, customer_id: int, card: str, now: int) -> int:
    return insert_sealed(
        conn,
        keys,
        bank_cards,
        plain={
            "customer_id": customer_id,
            "card_bidx": blind_index(keys, "card", card),
            "status": "active",
            "bound_us": now,
        },
        sealed={"card_ct": card},
    )


def _card(keys: Keyring, row: Any) -> Card:
    number = open_columns(keys, bank_cards, row, ("card_ct",))["card_ct"] or ""
    return Card(row.id, mask_card(number), row.status, row.bound_us)


def list_cards(conn: Connection, *, keys: Keyring, customer_id: int) -> list[Card]:
    rows = conn.execute(
        select(bank_cards).where(bank_cards.c.customer_id == customer_id).order_by(bank_cards.c.id)
    )
    return [_card(keys, r) for r in rows]


def get_card(conn: Connection, *, keys: Keyring, customer_id: int, card_id: int) -> Card:
    row = conn.execute(
        select(bank_cards).where(
            bank_cards.c.id == card_id, bank_cards.c.customer_id == customer_id
        )
    ).first()
    if row is None:
        raise NotFound("card_not_found", "no such card")
    return _card(keys, row)


def bind_card(
    conn: Connection,
    *,
    keys: Keyring,
    verifier: Verifier,
    customer_id: int,
    card_number: str,
    actor: Actor,
    clock: Clock,
) -> Card:
    """Bind another card of the verified holder (the caller has asked for password and second
    factor again); the card must pass the four-element check in the holder's name."""
    require_verified(conn, customer_id=customer_id)
    consents.require(conn, customer_id=customer_id, purpose="bank_card")
    card = parse_bank_card(card_number)
    row = _row(conn, customer_id)
    v = open_columns(keys, customers, row, ("name_ct", "id_number_ct", "phone_ct"))
    elements = FourElements(v["name_ct"] or "", v["id_number_ct"] or "", card, v["phone_ct"] or "")
    outcome = verifier.verify(elements, today=business_date(clock.now()))
    if not outcome.passed:
        raise ValidationError(
            "card_verification_failed",
            f"the bank did not confirm the card ({outcome.reason})",
            field="card_number",
        )
    bidx = blind_index(keys, "card", card)
    taken = conn.execute(
        select(bank_cards.c.id).where(
            bank_cards.c.card_bidx == bidx, bank_cards.c.status == "active"
        )
    ).first()
    if taken is not None:
        raise Conflict("card_already_bound", "this card is already bound", field="card_number")
    card_id = _insert_card(conn, keys, customer_id, card, now_us(clock))
    audit.record(
        conn,
        actor=actor,
        event="customer.card_bind",
        object_type="bank_card",
        object_id=card_id,
        clock=clock,
    )
    return get_card(conn, keys=keys, customer_id=customer_id, card_id=card_id)


def unbind_card(
    conn: Connection, *, keys: Keyring, customer_id: int, card_id: int, actor: Actor, clock: Clock
) -> Card:
    found = get_card(conn, keys=keys, customer_id=customer_id, card_id=card_id)
    if found.status == "active":
        conn.execute(
            update(bank_cards)
            .where(bank_cards.c.id == card_id)
            .values(status="unbound", unbound_us=now_us(clock))
        )
        audit.record(
            conn,
            actor=actor,
            event="customer.card_unbind",
            object_type="bank_card",
            object_id=card_id,
            clock=clock,
        )
    return replace(found, status="unbound")


# ------------------------------------------------------------------------ profile, phone


def update_profile(
    conn: Connection,
    *,
    keys: Keyring,
    customer_id: int,
    changes: dict[str, Any],
    actor: Actor,
    clock: Clock,
) -> CustomerView:
    """Correct the self-declared fields: address, occupation, income, loans elsewhere."""
    row = _row(conn, customer_id)
    sealed: dict[str, str | None] = {}
    plain: dict[str, Any] = {"updated_us": now_us(clock)}
    if "address" in changes:
        sealed["address_ct"] = _bounded(changes["address"], "address", 200)
    if "occupation" in changes:
        plain["occupation"] = _bounded(changes["occupation"], "occupation", 64)
    for key, col in (("annual_income_fen", "income_ct"), ("other_loans_fen", "other_loans_ct")):
        if key in changes:
            value = changes[key]
            sealed[col] = None if value is None else str(check_fen(value, field=key))
    update_sealed(conn, keys, customers, row, sealed=sealed, plain=plain)
    audit.record(
        conn,
        actor=actor,
        event="customer.correct",
        object_type="customer",
        object_id=customer_id,
        detail={"fields": sorted(changes)},
        clock=clock,
    )
    return view(conn, keys=keys, customer_id=customer_id)


def _bounded(value: str | None, field: str, size: int) -> str | None:
    if value is not None and not 1 <= len(value.strip()) <= size:
        raise ValidationError(
            f"{field}_invalid", f"{field} has 1 to {size} characters", field=field
        )
    return value.strip() if value is not None else None


def change_phone(
    conn: Connection,
    *,
    keys: Keyring,
    customer_id: int,
    new_phone: str,
    code: str,
    actor: Actor,
    clock: Clock,
) -> CustomerView:
    """Move the account to a new phone, proven by a code sent to it (after a step-up)."""
    phone = parse_mobile(new_phone, field="new_phone")
    bidx = _proven_new_phone(conn, keys, phone, "new_phone", code, clock)
    update_sealed(
        conn,
        keys,
        customers,
        _row(conn, customer_id),
        sealed={"phone_ct": phone},
        plain={"phone_bidx": bidx, "updated_us": now_us(clock)},
    )
    audit.record(
        conn,
        actor=actor,
        event="customer.phone_change",
        object_type="customer",
        object_id=customer_id,
        clock=clock,
    )
    return view(conn, keys=keys, customer_id=customer_id)


def set_entity(
    conn: Connection,
    *,
    keys: Keyring,
    customer_id: int,
    name: str,
    uscc: str,
    legal_rep_name: str,
    legal_rep_id_number: str,
    registered_capital_fen: int,
    actor: Actor,
    clock: Clock,
) -> EntityView:
    row = _row(conn, customer_id)
    if row.kind != "entity":
        raise ValidationError("not_an_entity", "this customer registered as a person", field="kind")
    code = parse_uscc(uscc)
    rid = parse_resident_id(
        legal_rep_id_number, today=business_date(clock.now()), field="legal_rep_id_number"
    )
    if conn.execute(select(entities.c.id).where(entities.c.customer_id == customer_id)).first():
        raise Conflict("entity_exists", "the entity details are already recorded")
    if conn.execute(select(entities.c.id).where(entities.c.uscc == code)).first():
        raise Conflict("uscc_taken", "this credit code already has an account", field="uscc")
    entity_id = insert_sealed(
        conn,
        keys,
        entities,
        plain={
            "customer_id": customer_id,
            "name": _bounded(name, "name", 200),
            "uscc": code,
            "registered_capital_fen": check_fen(
                registered_capital_fen, field="registered_capital_fen"
            ),
            "created_us": now_us(clock),
        },
        sealed={"legal_rep_name_ct": _name(legal_rep_name), "legal_rep_id_ct": rid.number},
    )
    audit.record(
        conn,
        actor=actor,
        event="customer.entity",
        object_type="entity",
        object_id=entity_id,
        clock=clock,
    )
    return EntityView(
        name.strip(),
        code,
        mask_name(legal_rep_name.strip()),
        mask_id(rid.number, mode="holder"),
        registered_capital_fen,
    )


# ------------------------------------------------------------------------- my data (DSR)


def export(conn: Connection, *, keys: Keyring, customer_id: int) -> dict[str, Any]:
    """A copy of what we hold about the customer (PI-DSR-01), masked like every output."""
    from puhui.identity import auth, risk

    principal = f"customer:{customer_id}"
    kyc = conn.execute(
        select(kyc_results)
        .where(kyc_results.c.customer_id == customer_id)
        .order_by(kyc_results.c.id)
    )
    return {
        "customer": view(conn, keys=keys, customer_id=customer_id),
        "bank_cards": list_cards(conn, keys=keys, customer_id=customer_id),
        "kyc_results": [
            KycResult(r.id, r.outcome == "passed", r.reason, r.created_us) for r in kyc
        ],
        "consents": consents.list_for(conn, customer_id=customer_id),
        "risk_assessments": risk.list_assessments(conn, customer_id=customer_id),
        "login_history": auth.history(conn, principal=principal, limit=200),
        "data_requests": list_requests(conn, customer_id=customer_id),
    }


@dataclass(frozen=True)
class DataRequest:
    id: int
    kind: str
    status: str
    fields: str
    reason: str
    retain_until: date | None
    created_us: int


def _request(r: Any) -> DataRequest:
    return DataRequest(r.id, r.kind, r.status, r.fields, r.reason, r.retain_until, r.created_us)


def list_requests(conn: Connection, *, customer_id: int) -> list[DataRequest]:
    rows = conn.execute(
        select(data_requests)
        .where(data_requests.c.customer_id == customer_id)
        .order_by(data_requests.c.id)
    )
    return [_request(r) for r in rows]


def get_request(conn: Connection, *, customer_id: int, request_id: int) -> DataRequest:
    row = conn.execute(
        select(data_requests).where(
            data_requests.c.id == request_id, data_requests.c.customer_id == customer_id
        )
    ).first()
    if row is None:
        raise NotFound("data_request_not_found", "no such request")
    return _request(row)


def request_deletion(
    conn: Connection, *, keys: Keyring, customer_id: int, actor: Actor, clock: Clock
) -> DataRequest:
    """Delete the customer's personal data, or — where the law requires keeping it (a verified
    identity: AML and custody records, 5 years) — restrict it from any other use until then."""
    row = _row(conn, customer_id)
    now, today = now_us(clock), business_date(clock.now())
    keep = conn.execute(
        select(kyc_results.c.id).where(kyc_results.c.customer_id == customer_id)
    ).first()
    if keep is not None:
        retain = retention_until(today)
        status, reason = "deferred", "identity and transaction records are kept 5 years (AML)"
        plain: dict[str, Any] = {"status": "restricted", "updated_us": now}
        sealed: dict[str, str | None] = {}
    else:
        retain, status, reason = None, "done", "erased"
        erased = hashlib.sha256(f"erased\x1f{customer_id}".encode()).hexdigest()
        plain = {"status": "closed", "phone_bidx": erased, "occupation": None, "updated_us": now}
        sealed = dict.fromkeys(PERSONAL)
    update_sealed(conn, keys, customers, row, sealed=sealed, plain=plain)
    sessions.revoke_all(conn, principal=f"customer:{customer_id}", reason="deletion", clock=clock)
    request_id = conn.execute(
        insert(data_requests).values(
            customer_id=customer_id,
            kind="delete",
            status=status,
            fields="all",
            reason=reason,
            retain_until=retain,
            created_us=now,
            closed_us=now if status == "done" else None,
        )
    ).inserted_primary_key[0]
    audit.record(
        conn,
        actor=actor,
        event="customer.delete_request",
        object_type="customer",
        object_id=customer_id,
        before={"status": row.status},
        after={"status": plain["status"]},
        detail={"request": request_id, "outcome": status},
        clock=clock,
    )
    return get_request(conn, customer_id=customer_id, request_id=request_id)


# ------------------------------------------------------------------------- staff access


def visible(conn: Connection, *, where: ColumnElement[bool], customer_id: int) -> None:
    """404 unless the customer exists and is inside the staff member's scope."""
    found = conn.execute(select(customers.c.id).where(customers.c.id == customer_id, where)).first()
    if found is None:
        raise NotFound("customer_not_found", "no such customer")


def list_visible(
    conn: Connection,
    *,
    keys: Keyring,
    where: ColumnElement[bool],
    after_id: int = 0,
    limit: int = 20,
) -> list[CustomerView]:
    ids = conn.execute(
        select(customers.c.id)
        .where(where, customers.c.id > after_id)
        .order_by(customers.c.id)
        .limit(limit)
    ).scalars()
    return [view(conn, keys=keys, customer_id=i) for i in ids]


def count_by_kyc_status(conn: Connection, *, where: ColumnElement[bool]) -> dict[str, int]:
    """How many customers in scope are unverified, verified or failed (back-office KPIs)."""
    rows = conn.execute(
        select(customers.c.kyc_status, func.count())
        .where(where)
        .group_by(customers.c.kyc_status)
        .order_by(customers.c.kyc_status)
    )
    return {status: int(n) for status, n in rows}


def find(
    conn: Connection,
    *,
    keys: Keyring,
    where: ColumnElement[bool] = true(),
    phone: str | None = None,
    id_number: str | None = None,
) -> CustomerView:
    """Find a customer by phone or ID number through the blind index (never a table scan)."""
    if phone is not None:
        cond = customers.c.phone_bidx == blind_index(keys, "phone", parse_mobile(phone))
    elif id_number is not None:
        number = id_number.strip().upper()
        cond = customers.c.id_number_bidx == blind_index(keys, "id_number", number)
    else:
        raise ValidationError("search_empty", "give a phone or an ID number", field="phone")
    found = conn.execute(select(customers.c.id).where(cond, where)).scalar()
    if found is None:
        raise NotFound("customer_not_found", "no such customer")
    return view(conn, keys=keys, customer_id=found)


def assign(
    conn: Connection,
    *,
    customer_id: int,
    team_id: int | None,
    advisor_id: int | None,
    actor: Actor,
    clock: Clock,
) -> None:
    conn.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .values(team_id=team_id, advisor_id=advisor_id, updated_us=now_us(clock))
    )
    audit.record(
        conn,
        actor=actor,
        event="customer.assign",
        object_type="customer",
        object_id=customer_id,
        after={"team_id": team_id, "advisor_id": advisor_id},
        clock=clock,
    )


def enrol_totp(conn: Connection, *, keys: Keyring, customer_id: int) -> str:
    """Start TOTP enrolment: a new secret, effective once confirmed with a code."""
    secret = otp.new_totp_secret()
    update_sealed(
        conn,
        keys,
        customers,
        _row(conn, customer_id),
        sealed={"totp_secret_ct": secret},
        plain={"totp_confirmed_us": None, "totp_last_step": None},
    )
    return secret


def confirm_totp(
    conn: Connection, *, keys: Keyring, customer_id: int, code: str, actor: Actor, clock: Clock
) -> None:
    row = _row(conn, customer_id)
    secret = open_columns(keys, customers, row, ("totp_secret_ct",))["totp_secret_ct"]
    step = otp.check_totp(secret, code, last_step=None, clock=clock) if secret else None
    if step is None:
        raise NotAuthenticated("totp_invalid", "the code does not match", field="code")
    conn.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .values(totp_confirmed_us=now_us(clock), totp_last_step=step)
    )
    audit.record(
        conn,
        actor=actor,
        event="customer.totp_enrol",
        object_type="customer",
        object_id=customer_id,
        clock=clock,
    )


def retention_until(today: date) -> date:
    """The same calendar day RETENTION_YEARS on (28 February for a 29 February)."""
    try:
        return today.replace(year=today.year + RETENTION_YEARS)
    except ValueError:
        return today.replace(year=today.year + RETENTION_YEARS, day=28)
