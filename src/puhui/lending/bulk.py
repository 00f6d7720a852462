"""Set-based origination: many loans created, signed and paid out in one batch.

``applications`` + ``servicing.disburse`` make one loan in half a dozen statements and an
engine run (0.1–0.25 s): right for a day's flow, hours for a back book of a million loans.
``originate`` writes the same rows for a whole batch: applications (state ``disbursed``, one
summarising event each), loans exactly as ``accept`` + ``disburse`` leave them (the same
contract text and SHA-256, the same installments, transactions and sub-ledger columns),
installments from ``schedules_vec.build_schedules``, the disbursement transactions (and the
upfront fee's payment), and ONE aggregated GL posting for the batch instead of one per loan.

What stays per loan in Python is cheap: the contract text is rendered once per distinct
(amount, term, rate) — schedule, IRR annual rate, fees and words depend on nothing else — as a
template, and each loan fills in its application id, customer id and masked name and ID number
(about 15 µs with the SHA-256, against 0.25 ms for a full render). Rows go in by ``COPY`` on
PostgreSQL and ``executemany`` on SQLite, in chunks, each reported to ``progress``.

The rules are the single path's: amount, term and rate within the product version's ranges,
the IRR annual rate within the legal cap on the contract date (RATE-CAP), full principal paid
out and the upfront fee a separate payment (RATE-FEE-01), verified active borrowers, the
per-person balance cap, and the company's cash covering the whole batch. Any refusal raises
before a row is written, and the caller's transaction rolls back whole in any case. The batch
emits no ``loan.disbursed`` outbox events: a back book is not news to subscribers, and a
million webhooks would be. One audit entry records the batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from sqlalchemy import Connection, Table, case, func, select, text

from puhui.compliance.rate_caps import rate_cap
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, ValidationError
from puhui.core.rates import format_percent
from puhui.credit.application import Purpose
from puhui.identity import audit
from puhui.identity import customers as customer_service
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.models import customers
from puhui.identity.times import now_us, span_us
from puhui.ledger.codes import AccountCode, TransferCode
from puhui.lending import accounts, calendar, contract_terms, contracts, offers, products
from puhui.lending.applications import DEFAULT_CONFIG, LendingConfig
from puhui.lending.apr import schedule_rates
from puhui.lending.eligibility import ENTITY_MCL_CAP_FEN, OWING_STATES
from puhui.lending.models import application_events, applications, installments, loans
from puhui.lending.models import loan_transactions as transactions
from puhui.lending.product_terms import Mode
from puhui.lending.rules import DISCLOSED
from puhui.lending.schedules_vec import LoanArrays, build_schedules

#: Loans written per chunk (one progress report each): big enough that COPY runs at speed,
#: small enough that a chunk's rows fit comfortably in memory.
CHUNK = 20_000
#: The version a loan row has after ``accept`` (0), ``servicing.write`` (+1) and the
#: transition to ``disbursed`` (+1).
DISBURSED_VERSION = 2
#: Stand-ins rendered into the contract template, filled per loan (never in real text).
_FIELDS = {"a": "\x00APP\x00", "n": "\x00NAME\x00", "i": "\x00IDNO\x00", "c": "\x00CUST\x00"}

Progress = Callable[[str, int, int], None]


def _quiet(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class Originated:
    """What a batch made: loan and application ids in input order, and the batch totals."""

    loan_ids: np.ndarray
    application_ids: np.ndarray
    principal_fen: int
    upfront_fee_fen: int
    transfer_id: str

    @property
    def count(self) -> int:
        return len(self.loan_ids)


# ------------------------------------------------------------------------------ writing


def reserve_ids(conn: Connection, table: Table, n: int) -> np.ndarray:
    """``n`` fresh primary keys: from the table's sequence on PostgreSQL, after the largest id
    on SQLite (whose writer lock the caller's transaction holds until it commits)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": n},
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    top = int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())
    return np.arange(top + 1, top + 1 + n, dtype=np.int64)


def copy_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order): ``COPY`` on PostgreSQL, else one
    ``executemany``. Plain Python values only (int, str, date, None)."""
    if conn.dialect.name != "postgresql":
        marks = ", ".join("?" for _ in columns)
        batch = list(rows)
        if batch:
            conn.exec_driver_sql(
                f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", batch
            )
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor().copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# ------------------------------------------------------------------------------ checks


def _refuse(bad: np.ndarray, code: str, message: Callable[[int], str], field: str) -> None:
    """Raise for the first loan ``bad`` marks, naming it by its position in the batch."""
    if bad.any():
        row = int(np.argmax(bad))
        raise ValidationError(code, f"loan {row} of the batch: {message(row)}", field=field)


def _int_array(name: str, values: object, n: int | None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValidationError(
            "bulk_array_invalid", f"{name} must be a one-dimensional array of integers", field=name
        )
    if n is not None and len(array) != n:
        raise ValidationError(
            "bulk_array_length",
            f"{name} has {len(array)} values; the batch has {n} loans",
            field=name,
        )
    return array.astype(np.int64)


def _rate_of(ppb: int) -> Decimal:
    """A rate in parts per 10⁹ as the shortest decimal (0.135, not 0.135000000)."""
    rate = (Decimal(ppb) / contract_terms.PPB).normalize()
    return rate if rate.as_tuple().exponent <= 0 else rate.quantize(Decimal(1))  # type: ignore[operator]


def _check_ranges(
    version: products.ProductVersion, amount: np.ndarray, term: np.ndarray, ppb: np.ndarray
) -> None:
    t = version.terms
    low, high = t.min_amount_fen, t.max_amount_fen
    _refuse(
        (amount < low) | (amount > high),
        "amount_out_of_range",
        lambda j: (
            f"{amount[j]} fen is outside product {version.code} v{version.version}'s "
            f"{low}–{high} fen"
        ),
        "amount_fen",
    )
    _refuse(
        ~np.isin(term, np.asarray(t.terms, dtype=np.int64)),
        "term_not_offered",
        lambda j: (
            f"product {version.code} v{version.version} offers terms of "
            f"{', '.join(map(str, t.terms))}, not {term[j]}"
        ),
        "term",
    )
    lo, hi = contract_terms.rate_ppb(t.min_annual_rate), contract_terms.rate_ppb(t.max_annual_rate)
    _refuse(
        (ppb < lo) | (ppb > hi),
        "rate_out_of_range",
        lambda j: (
            f"{format_percent(_rate_of(int(ppb[j])), 4)} is outside "
            f"{format_percent(t.min_annual_rate)}–{format_percent(t.max_annual_rate)}"
        ),
        "annual_rate",
    )


def _check_borrowers(
    conn: Connection, customer_ids: np.ndarray, amount: np.ndarray, config: LendingConfig
) -> None:
    """Every borrower a verified, active customer, and no one's balance here (loans signed in
    full, paid-out loans by principal outstanding, as ``eligibility`` counts it) above the
    person cap (MCL-CAP-01; entities MCL-CAP-02) once the batch is added. The income-based
    part of MCL-CAP-01 and the cross-account sum by identity are the credit decision's, made
    before a loan reaches a batch."""
    wanted = np.unique(customer_ids)
    c = customers.c
    found = conn.execute(
        select(c.id, c.kind).where(
            c.id.between(int(wanted[0]), int(wanted[-1])),
            c.status == "active",
            c.kyc_status == "verified",
        )
    ).all()
    ids = np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))
    _refuse(
        ~np.isin(customer_ids, ids),
        "borrower_not_eligible",
        lambda j: f"customer {customer_ids[j]} is not a verified, active customer",
        "customer_id",
    )
    owing = case(
        (loans.c.state == "accepted", loans.c.principal_fen),
        else_=loans.c.principal_outstanding_fen,
    )
    owed_now = conn.execute(
        select(loans.c.customer_id, func.sum(owing))
        .where(
            loans.c.state.in_(OWING_STATES),
            loans.c.customer_id.between(int(wanted[0]), int(wanted[-1])),
        )
        .group_by(loans.c.customer_id)
    ).all()
    entities = {int(r[0]) for r in found if r[1] != "person"}
    index = {int(v): k for k, v in enumerate(wanted.tolist())}
    owed = np.zeros(len(wanted), dtype=np.int64)
    for cid, fen in owed_now:
        k = index.get(int(cid))
        if k is not None:
            owed[k] += int(fen)
    where = np.searchsorted(wanted, customer_ids)
    np.add.at(owed, where, amount)
    cap = np.full(len(wanted), config.policy.mcl_person_cap_fen, dtype=np.int64)
    for cid in entities & set(index):
        cap[index[cid]] = ENTITY_MCL_CAP_FEN
    over = (owed > cap)[where]
    _refuse(
        over,
        "balance_above_cap",
        lambda j: (
            f"customer {customer_ids[j]} would owe "
            f"{owed[where[j]]} fen here, above the {cap[where[j]]} fen cap"
        ),
        "amount_fen",
    )


def _check_cash(conn: Connection, principal: int) -> None:
    """The company's cash must cover the whole batch; otherwise nothing is made."""
    cash = accounts.balances(conn)[AccountCode.COMPANY_CASH]
    if principal > cash:
        raise Conflict(
            "insufficient_company_cash",
            f"the batch pays out {principal} fen and the company's cash holds {cash}; "
            "inject capital first",
            field="amount_fen",
        )


# ------------------------------------------------------------------------------ contracts


@dataclass(frozen=True)
class _Kind:
    """What every loan of one (amount, term, rate) shares under one version on one day."""

    upfront_fee_fen: int
    annual_rate: str
    penalty_rate: str
    rate_ppb: int
    penalty_rate_ppb: int
    irr_annual_rate: str
    maturity: date
    template: str


def _kind(
    version: products.ProductVersion,
    *,
    amount: int,
    term: int,
    ppb: int,
    start: date,
    signed_us: int,
    config: LendingConfig,
) -> _Kind:
    """Price one kind of loan as ``make_offer`` and ``accept`` do (refused above the cap), and
    render its contract with stand-ins for the parties."""
    rate = _rate_of(ppb)
    schedule = offers.loan_schedule(version, amount, term, rate, start)
    rates = schedule_rates(schedule)
    cap = rate_cap(
        profile=version.terms.regulatory_profile, contract_date=start, config=config.cap_config
    )
    disclosed = rates.annual_rate_irr.quantize(DISCLOSED, rounding=ROUND_HALF_UP)
    if disclosed > cap.cap:
        raise ValidationError(
            "annual_rate_above_cap",
            f"a loan of {amount} fen over {term} at {format_percent(rate, 4)} has an annual "
            f"rate by IRR of {format_percent(disclosed)}, above the cap "
            f"{format_percent(cap.cap)} ({cap.basis})",
            field="annual_rate",
        )
    penalty = contract_terms.penalty_rate(version, rate)
    content = offers.contract_content(
        application_id=_FIELDS["a"],  # type: ignore[arg-type]
        customer_id=_FIELDS["c"],  # type: ignore[arg-type]
        version=version,
        schedule=schedule,
        penalty=penalty,
        borrower_name=_FIELDS["n"],
        borrower_id_number=_FIELDS["i"],
        signed_us=signed_us,
        lender=config.lender,
        cooling_off_hours=config.cooling_off_hours,
    )
    template = contracts.render(content).replace("%", "%%")
    for key, stand_in in _FIELDS.items():
        template = template.replace(stand_in, f"%({key})s")
    return _Kind(
        upfront_fee_fen=schedule.terms.upfront_fee_fen,
        annual_rate=str(rate),
        penalty_rate=str(penalty),
        rate_ppb=ppb,
        penalty_rate_ppb=contract_terms.rate_ppb(penalty),
        irr_annual_rate=str(rates.annual_rate_irr),
        maturity=content.maturity_date,
        template=template,
    )


def _parties(
    conn: Connection,
    customer_ids: np.ndarray,
    names: Sequence[str] | None,
    id_numbers: Sequence[str] | None,
    keys: Keyring | None,
) -> tuple[Sequence[str], Sequence[str]]:
    """The masked name and ID number each contract shows, as ``accept`` takes them from
    ``customers.view``: given by the caller (who knows them, e.g. the simulation), else read
    and masked per borrower (fine for a small batch)."""
    n = len(customer_ids)
    if names is not None and id_numbers is not None:
        if len(names) != n or len(id_numbers) != n:
            raise ValidationError(
                "bulk_array_length", "one masked name and ID number per loan", field="borrower"
            )
        return names, id_numbers
    if keys is None:
        raise ValidationError(
            "bulk_parties_missing",
            "give the masked names and ID numbers, or the keys to read them",
            field="borrower",
        )
    seen = {
        cid: customer_service.view(conn, keys=keys, customer_id=cid)
        for cid in np.unique(customer_ids).tolist()
    }
    ids = customer_ids.tolist()
    return (
        [seen[c].name or "-" for c in ids],
        [seen[c].id_number or "-" for c in ids],
    )


# ------------------------------------------------------------------------------ columns

_APPLICATION_COLUMNS = (
    "id",
    "customer_id",
    "product_version_id",
    "amount_fen",
    "term",
    "annual_rate",
    "purpose",
    "purpose_detail",
    "state",
    "channel",
    "decision_outcome",
    "reasons_json",
    "approved_fen",
    "loan_id",
    "created_us",
    "updated_us",
)
_EVENT_COLUMNS = ("application_id", "from_state", "to_state", "actor", "reason", "at_us")
_LOAN_COLUMNS = (
    "id",
    "application_id",
    "customer_id",
    "product_version_id",
    "state",
    "principal_fen",
    "annual_rate",
    "penalty_rate",
    "rate_ppb",
    "penalty_rate_ppb",
    "year_days",
    "method",
    "term_unit",
    "term",
    "start_date",
    "maturity_date",
    "grace_days",
    "upfront_fee_fen",
    "irr_annual_rate",
    "contract_text",
    "contract_sha256",
    "signed_us",
    "cooling_off_until_us",
    "disbursed_us",
    "principal_outstanding_fen",
    "version",
    "created_us",
    "updated_us",
)
_INSTALLMENT_COLUMNS = (
    "loan_id",
    "seq",
    "period_start",
    "due_date",
    "principal_fen",
    "interest_fen",
    "fee_fen",
    "paid_fee_fen",
    "paid_date",
)
_TXN_COLUMNS = (
    "id",
    "loan_id",
    "kind",
    "value_date",
    "booked_date",
    "amount_fen",
    "fee_fen",
    "external_ref",
    "actor",
    "created_us",
)


def _installment_rows(kinds: list[_Kind], start: date, vec: Any) -> list[list[tuple[Any, ...]]]:
    """Each kind's installment rows without the loan id: seq 0 (the upfront fee, paid at
    once when there is one, as ``disburse`` has the borrower pay it), then the schedule, each
    period starting on the previous due date."""
    out = []
    for u, kind in enumerate(kinds):
        fee = kind.upfront_fee_fen
        rows: list[tuple[Any, ...]] = [(0, start, start, 0, 0, fee, fee, start if fee else None)]
        previous = start
        for k in range(int(vec.count[u])):
            due = vec.due_date[u, k].astype(date)
            rows.append(
                (
                    k + 1,
                    previous,
                    due,
                    int(vec.principal_fen[u, k]),
                    int(vec.interest_fen[u, k]),
                    int(vec.fee_fen[u, k]),
                    0,
                    None,
                )
            )
            previous = due
        out.append(rows)
    return out


# ------------------------------------------------------------------------------ originate


def originate(
    conn: Connection,
    *,
    product_version_id: int,
    customer_ids: Sequence[int] | np.ndarray,
    amount_fen: Sequence[int] | np.ndarray,
    term: Sequence[int] | np.ndarray,
    rate_ppb: Sequence[int] | np.ndarray,
    actor: Actor,
    clock: Clock,
    purpose: str = Purpose.CONSUMER_GOODS.value,
    borrower_names: Sequence[str] | None = None,
    borrower_id_numbers: Sequence[str] | None = None,
    keys: Keyring | None = None,
    config: LendingConfig = DEFAULT_CONFIG,
    channel: str = "bulk",
    chunk: int = CHUNK,
    progress: Progress = _quiet,
) -> Originated:
    """Create, sign and pay out one loan per position of the arrays, on the business date.

    Each loan is what ``applications`` (create … accept at ``annual_rate`` = ``rate_ppb`` /
    10⁹) followed by ``servicing.disburse`` would have made at this instant; the GL gets one
    posting for the batch. ``borrower_names``/``borrower_id_numbers`` are the masked values
    the contracts show (else read with ``keys``). Refused whole, before anything is written,
    when any loan breaks a rule or the company's cash cannot cover the batch. The caller owns
    the transaction."""
    cids = _int_array("customer_ids", customer_ids, None)
    n = len(cids)
    if n == 0:
        raise ValidationError("bulk_empty", "a batch needs at least one loan", field="customer_ids")
    amount = _int_array("amount_fen", amount_fen, n)
    terms = _int_array("term", term, n)
    ppb = _int_array("rate_ppb", rate_ppb, n)
    if chunk < 1:
        raise ValidationError("bulk_chunk_invalid", "chunk must be at least 1", field="chunk")
    try:
        purpose = Purpose(purpose).value
    except ValueError:
        raise ValidationError(
            "purpose_unknown", f"no purpose {purpose!r}", field="purpose"
        ) from None
    version = products.get_version(conn, version_id=product_version_id)
    if version.terms.mode is not Mode.DIRECT:
        raise ValidationError(
            "bulk_direct_only",
            "bulk origination pays loans out of the company's cash: direct-lending products only",
            field="product_version_id",
        )
    _check_ranges(version, amount, terms, ppb)
    today = calendar.current(conn, clock=clock)
    signed = now_us(clock)
    progress("checks", 0, 1)
    _check_borrowers(conn, cids, amount, config)
    principal_total = int(amount.sum())
    _check_cash(conn, principal_total)
    names, id_numbers = _parties(conn, cids, borrower_names, borrower_id_numbers, keys)

    # One pricing, schedule and contract template per kind of loan.
    combos, inverse = np.unique(np.stack([amount, terms, ppb], axis=1), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    kinds = []
    for u, (a, t, p) in enumerate(combos.tolist()):
        kinds.append(
            _kind(version, amount=a, term=t, ppb=p, start=today, signed_us=signed, config=config)
        )
        if u % 500 == 0:
            progress("pricing", u, len(combos))
    progress("pricing", len(combos), len(combos))
    fees = np.array([k.upfront_fee_fen for k in kinds], dtype=np.int64)
    vec = build_schedules(
        LoanArrays(
            principal_fen=combos[:, 0],
            annual_rate=[_rate_of(p) for p in combos[:, 2].tolist()],
            term=combos[:, 1],
            method=version.terms.method,
            start=today,
            term_unit=version.terms.term_unit,
            day_count=version.terms.day_count,
            upfront_fee_fen=fees,
            period_fee_fen=np.array(
                [version.terms.fees_fen(a)[1] for a in combos[:, 0].tolist()], dtype=np.int64
            ),
        )
    )
    schedule_rows = _installment_rows(kinds, today, vec)
    fee_total = int(fees[inverse].sum())

    t = version.terms
    who = actor.principal
    cooling = signed + span_us(timedelta(hours=config.cooling_off_hours))
    reason = f"bulk origination by {who}: created, approved, offered, accepted and disbursed"
    loan_ids = np.zeros(n, dtype=np.int64)
    app_ids = np.zeros(n, dtype=np.int64)
    progress("loans", 0, n)
    for lo in range(0, n, chunk):
        part = np.arange(lo, min(n, lo + chunk))
        m = len(part)
        apps = reserve_ids(conn, applications, m)
        ids = reserve_ids(conn, loans, m)
        app_ids[part], loan_ids[part] = apps, ids
        kind_of = inverse[part].tolist()
        cid_list, amt_list = cids[part].tolist(), amount[part].tolist()
        app_list, id_list = apps.tolist(), ids.tolist()
        copy_rows(
            conn,
            applications,
            _APPLICATION_COLUMNS,
            (
                (a, c, product_version_id, amt, int(terms[j]), kinds[k].annual_rate, purpose,
                 "", "disbursed", channel, "approve", "[]", amt, i, signed, signed)
                for a, c, amt, i, k, j in zip(
                    app_list, cid_list, amt_list, id_list, kind_of, part.tolist(), strict=True
                )
            ),
        )  # fmt: skip
        copy_rows(
            conn,
            application_events,
            _EVENT_COLUMNS,
            ((a, None, "disbursed", who, reason, signed) for a in app_list),
        )
        loan_rows = []
        for a, c, amt, i, k, j in zip(
            app_list, cid_list, amt_list, id_list, kind_of, part.tolist(), strict=True
        ):
            kind = kinds[k]
            body = kind.template % {"a": a, "c": c, "n": names[j], "i": id_numbers[j]}
            loan_rows.append(
                (i, a, c, product_version_id, "disbursed", amt, kind.annual_rate,
                 kind.penalty_rate, kind.rate_ppb, kind.penalty_rate_ppb, t.day_count.basis,
                 t.method.value, t.term_unit.value, int(terms[j]), today, kind.maturity,
                 t.grace_days, kind.upfront_fee_fen, kind.irr_annual_rate, body,
                 contracts.sha256_of(body), signed, cooling, signed, amt, DISBURSED_VERSION,
                 signed, signed)
            )  # fmt: skip
        copy_rows(conn, loans, _LOAN_COLUMNS, loan_rows)
        del loan_rows
        copy_rows(
            conn,
            installments,
            _INSTALLMENT_COLUMNS,
            ((i, *row) for i, k in zip(id_list, kind_of, strict=True) for row in schedule_rows[k]),
        )
        with_fee = [(i, kinds[k].upfront_fee_fen) for i, k in zip(id_list, kind_of, strict=True)]
        paying = [(i, fee) for i, fee in with_fee if fee]
        txn_ids = reserve_ids(conn, transactions, m + len(paying)).tolist()
        copy_rows(
            conn,
            transactions,
            _TXN_COLUMNS,
            [
                *(
                    (x, i, "disbursement", today, today, amt, 0, None, who, signed)
                    for x, i, amt in zip(txn_ids[:m], id_list, amt_list, strict=True)
                ),
                *(
                    (x, i, "repayment", today, today, fee, fee, f"upfront-fee:{i}", who, signed)
                    for x, (i, fee) in zip(txn_ids[m:], paying, strict=True)
                ),
            ],
        )
        progress("loans", lo + m, n)

    transfer_id = f"bulk:{int(loan_ids.min())}-{int(loan_ids.max())}"
    A, T = AccountCode, TransferCode
    accounts.post(
        conn,
        transfer_id=transfer_id,
        legs=[
            accounts.Leg(A.LOANS_RECEIVABLE, A.COMPANY_CASH, principal_total, T.DISBURSEMENT),
            accounts.Leg(A.FEES_RECEIVABLE, A.FEE_INCOME, fee_total, T.FEE),
            accounts.Leg(A.COMPANY_CASH, A.FEES_RECEIVABLE, fee_total, T.REPAYMENT),
        ],
        clock=clock,
        reference=f"{n} loans",
    )
    audit.record(
        conn,
        actor=actor,
        event="loan.bulk_originated",
        object_type="loan",
        object_id=f"{int(loan_ids.min())}-{int(loan_ids.max())}",
        after={"state": "disbursed", "loans": n, "principal_fen": principal_total},
        detail={
            "product_version_id": product_version_id,
            "business_date": today.isoformat(),
            "upfront_fee_fen": fee_total,
            "kinds": len(kinds),
            "transfer_id": transfer_id,
            "channel": channel,
            "terms": json.loads(json.dumps(sorted({int(x) for x in terms.tolist()}))),
        },
        clock=clock,
    )
    progress("loans", n, n)
    return Originated(loan_ids, app_ids, principal_total, fee_total, transfer_id)
