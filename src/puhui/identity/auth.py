"""Signing in: customers with phone, password and an SMS code; staff with name, password and
TOTP (SEC-AUTH-01..03). Lockout after 5 failures for 30 minutes; while locked even the right
password is refused. Every failure answers with the same message, whether or not the account
exists, and takes as long, so a login form cannot be used to find out who is a customer.

Each attempt is written to the login history and the audit log. A failure raises ``Refused``:
the caller commits the count, the lockout and the records, then answers with the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import NotFound
from puhui.identity import audit, otp, passwords, sessions
from puhui.identity import customers as customers_service
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring, blind_index
from puhui.identity.errors import BAD_LOGIN, NotAuthenticated, Refused
from puhui.identity.identifiers import parse_mobile
from puhui.identity.models import customers, login_history, staff
from puhui.identity.sealed import cipher_for
from puhui.identity.times import now_us, span_us

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=30)


@dataclass(frozen=True)
class Login:
    principal: str
    session: sessions.NewSession


def phone_index(keys: Keyring, phone: str) -> str:
    return blind_index(keys, "phone", parse_mobile(phone))


def login_customer(
    conn: Connection,
    *,
    keys: Keyring,
    phone: str,
    password: str,
    code: str,
    actor: Actor,
    user_agent: str | None,
    clock: Clock,
) -> Login:
    bidx = phone_index(keys, phone)
    row = conn.execute(select(customers).where(customers.c.phone_bidx == bidx)).first()
    code_ok = otp.use_code(
        conn, keys=keys, phone_bidx=bidx, purpose="login", code=code, clock=clock
    )
    if row is not None and row.status == "closed":
        row = None
    return _finish(conn, customers, "customer", row, password, code_ok, actor, user_agent, clock)


def login_staff(
    conn: Connection,
    *,
    keys: Keyring,
    username: str,
    password: str,
    totp_code: str,
    actor: Actor,
    user_agent: str | None,
    clock: Clock,
) -> Login:
    row = conn.execute(select(staff).where(staff.c.username == username)).first()
    if row is not None and row.status != "active":
        row = None
    step = _totp_step(keys, staff, row, totp_code, clock) if row is not None else None
    if step is not None:
        conn.execute(update(staff).where(staff.c.id == row.id).values(totp_last_step=step))
    login = _finish(conn, staff, "staff", row, password, step is not None, actor, user_agent, clock)
    if row.password_changed_us + span_us(passwords.STAFF_MAX_AGE) <= now_us(clock):
        sessions.revoke_all(conn, principal=login.principal, reason="password_expired", clock=clock)
        raise Refused(
            NotAuthenticated("password_expired", "the password has expired; set a new one")
        )
    return login


def _totp_step(keys: Keyring, table: Table, row: Any, code: str, clock: Clock) -> int | None:
    if row.totp_secret_ct is None or row.totp_confirmed_us is None:
        return None
    secret = cipher_for(keys, table, row).open("totp_secret_ct", row.totp_secret_ct)
    return otp.check_totp(secret or "", code, last_step=row.totp_last_step, clock=clock)


def _finish(
    conn: Connection,
    table: Table,
    kind: str,
    row: Any,
    password: str,
    second_factor_ok: bool,
    actor: Actor,
    user_agent: str | None,
    clock: Clock,
) -> Login:
    now = now_us(clock)
    principal = f"{kind}:{row.id}" if row is not None else None
    locked = row is not None and (row.locked_until_us or 0) > now
    # Always verify, so an unknown or locked account takes as long as a wrong password.
    password_ok = passwords.verify_password(
        row.password_hash if row is not None else None, password
    )
    if row is None or locked or not (password_ok and second_factor_ok):
        reason = "unknown" if row is None else "locked" if locked else "bad_credentials"
        if reason == "bad_credentials":
            _count_failure(conn, table, row, now)
        _history(conn, principal, False, reason, actor, user_agent, now)
        audit.record(
            conn,
            actor=actor,
            event=f"{kind}.login",
            object_type=kind,
            object_id=row.id if row is not None else "-",
            success=False,
            detail={"reason": reason},
            clock=clock,
        )
        raise Refused(NotAuthenticated("login_failed", BAD_LOGIN))
    conn.execute(
        update(table).where(table.c.id == row.id).values(failed_logins=0, locked_until_us=None)
    )
    _history(conn, principal, True, "ok", actor, user_agent, now)
    new = sessions.start(conn, principal=principal, ip=actor.ip, user_agent=user_agent, clock=clock)
    audit.record(
        conn,
        actor=Actor(principal, actor.roles, actor.ip, actor.request_id),
        event=f"{kind}.login",
        object_type=kind,
        object_id=row.id,
        detail={"session": new.id},
        clock=clock,
    )
    return Login(principal, new)


def _count_failure(conn: Connection, table: Table, row: Any, now: int) -> None:
    failures = (row.failed_logins or 0) + 1
    values: dict[str, Any] = {"failed_logins": failures}
    if failures >= MAX_FAILURES:
        values = {"failed_logins": 0, "locked_until_us": now + span_us(LOCK_FOR)}
    conn.execute(update(table).where(table.c.id == row.id).values(**values))


def _history(
    conn: Connection,
    principal: str | None,
    success: bool,
    reason: str,
    actor: Actor,
    user_agent: str | None,
    now: int,
) -> None:
    conn.execute(
        insert(login_history).values(
            principal=principal,
            success=success,
            reason=reason,
            ip=actor.ip,
            user_agent=(user_agent or "")[:200] or None,
            created_us=now,
        )
    )


@dataclass(frozen=True)
class LoginRecord:
    success: bool
    reason: str
    ip: str | None
    created_us: int


def history(conn: Connection, *, principal: str, limit: int = 50) -> list[LoginRecord]:
    rows = conn.execute(
        select(login_history)
        .where(login_history.c.principal == principal)
        .order_by(login_history.c.id.desc())
        .limit(limit)
    )
    return [LoginRecord(r.success, r.reason, r.ip, r.created_us) for r in rows]


def _table(principal: str) -> tuple[Table, str, int]:
    kind, _, raw_id = principal.partition(":")
    return {"customer": customers, "staff": staff}[kind], kind, int(raw_id)


def set_password(
    conn: Connection,
    *,
    principal: str,
    password: str,
    forbidden: tuple[str | None, ...],
    actor: Actor,
    clock: Clock,
) -> None:
    """Replace a password under the policy and the history rule; every session of the
    principal ends (the caller has re-authenticated them)."""
    table, kind, row_id = _table(principal)
    passwords.check_policy(password, forbidden=forbidden)
    passwords.check_not_reused(conn, principal=principal, password=password)
    hashed = passwords.hash_password(password)
    conn.execute(
        update(table)
        .where(table.c.id == row_id)
        .values(password_hash=hashed, password_changed_us=now_us(clock))
    )
    passwords.remember(conn, principal=principal, password_hash=hashed, clock=clock)
    sessions.revoke_all(conn, principal=principal, reason="password_changed", clock=clock)
    audit.record(
        conn, actor=actor, event=f"{kind}.password", object_type=kind, object_id=row_id, clock=clock
    )


def unlock(conn: Connection, *, principal: str, actor: Actor, clock: Clock) -> None:
    """End a lockout early (an admin's decision, audited); an unknown principal is 404."""
    table, kind, row_id = _table(principal)
    done = conn.execute(
        update(table).where(table.c.id == row_id).values(failed_logins=0, locked_until_us=None)
    )
    if done.rowcount != 1:
        raise NotFound(f"{kind}_not_found", f"no such {kind}")
    audit.record(
        conn, actor=actor, event=f"{kind}.unlock", object_type=kind, object_id=row_id, clock=clock
    )


# ----------------------------------------------------------------------- re-authentication


def step_up(
    conn: Connection,
    *,
    keys: Keyring,
    customer_id: int,
    password: str | None,
    second_factor: str,
    require_totp: bool,
    actor: Actor,
    clock: Clock,
) -> None:
    """Ask for the password and a second factor again, before changing the phone or the card,
    or authorising a fund operation. The second factor is the customer's TOTP; without one
    enrolled, an SMS code (purpose ``step_up``) unless ``require_totp``. A fund operation passes
    no ``password``: its instruction carries the bank's own transaction password. Failures count
    toward the lockout like failed logins."""
    row = conn.execute(select(customers).where(customers.c.id == customer_id)).one()
    now = now_us(clock)
    if (row.locked_until_us or 0) > now:
        raise Refused(NotAuthenticated("reauthentication_failed", BAD_LOGIN))
    if row.totp_confirmed_us is not None:
        step = _totp_step(keys, customers, row, second_factor, clock)
        factor_ok = step is not None
        if factor_ok:
            conn.execute(
                update(customers).where(customers.c.id == row.id).values(totp_last_step=step)
            )
    elif require_totp:
        raise NotAuthenticated(
            "totp_required",
            "enrol an authenticator app (TOTP) before moving money",
            field="second_factor",
        )
    else:
        factor_ok = otp.use_code(
            conn,
            keys=keys,
            phone_bidx=row.phone_bidx,
            purpose="step_up",
            code=second_factor,
            clock=clock,
        )
    password_ok = password is None or passwords.verify_password(row.password_hash, password)
    if password_ok and factor_ok:
        return
    _count_failure(conn, customers, row, now)
    audit.record(
        conn,
        actor=actor,
        event="customer.reauthenticate",
        object_type="customer",
        object_id=row.id,
        success=False,
        clock=clock,
    )
    raise Refused(NotAuthenticated("reauthentication_failed", "password or second factor is wrong"))


def authorise_funds(
    conn: Connection,
    *,
    keys: Keyring,
    customer_id: int,
    totp: str,
    event: str,
    detail: dict[str, Any],
    actor: Actor,
    clock: Clock,
) -> None:
    """Everything the platform checks before a fund instruction goes to the custody bank: a
    verified identity (P2P-OBL-03), the customer's TOTP code (SEC-AUTH-03), and the audit entry
    (``event``), which the caller commits before the bank is asked (SEC-AUD-04)."""
    customers_service.require_verified(conn, customer_id=customer_id)
    step_up(
        conn,
        keys=keys,
        customer_id=customer_id,
        password=None,
        second_factor=totp,
        require_totp=True,
        actor=actor,
        clock=clock,
    )
    audit.record(
        conn,
        actor=actor,
        event=event,
        object_type="customer",
        object_id=customer_id,
        detail=detail,
        clock=clock,
    )
