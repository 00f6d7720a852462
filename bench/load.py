"""HTTP load test: simulated customers against `puhui serve --workers N` on PostgreSQL.

    .venv/bin/python bench/load.py                       # 200 users, 60 s, 2 workers
    .venv/bin/python bench/load.py --users 50 --duration 20 --markdown bench/results/load.md

What it does, all on loopback:

1. creates a fresh PostgreSQL database next to ``--pg`` and runs the simulation on it
   (``puhui.sim``: products, staff, borrowers with paid-out loans, investors with lender
   custody sub-accounts, standing authorisations and risk assessments, the marketplace, a few
   days), then opens ``--listings`` marketplace listings for the run: other borrowers apply for
   the marketplace product through the credit decision, as in the simulation, and the approved
   ones are published;
2. picks ``--users`` users: ``--bidders`` of the simulated investors and borrowers with a loan
   on the book for the rest; puts money on the borrowers' sandbox debit cards, and notes the
   total money (cards + the company's cash + the custody master account);
3. starts ``puhui serve --workers N`` on that database;
4. each user, from an address of its own (127.0.0.2, 127.0.0.3, …: the per-IP login limit is
   per person, as it would be on the internet), signs in and then, with a think time, mixes
   account views, marketplace listing views (when the route exists), sign-out/sign-in and, for
   a borrower, loan list/detail/schedule views and small repayments (with an Idempotency-Key),
   for an investor, bids: read the open listings, bid the minimum on one (half the time the
   one closest to full, else any; with an Idempotency-Key; the last piece of a listing is bid
   whole, and the bid that fills a listing funds it: notes, loan, disbursement);
5. reports throughput, p50/p95/p99 latency and the error rate per kind; a business refusal of
   a bid (listing full or closed, insufficient funds, suitability, no standing authorisation:
   a 403 or 409 with one of ``BID_REFUSALS``) is a refusal, counted by its code, not an error;
   anything else but 2xx is an error;
6. stops the server, then checks ``ledger verify``, the trial balance, the sub-ledger against
   the GL, and that the total money did not change (a repayment only moves it from a card to
   the company's cash).

The SMS login code is issued straight into the database by the driver (the sandbox SMS sender
keeps codes in the server's memory); that costs the driver, not the server, and is not timed.
Exits 1 when a check fails. The database is dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url

from puhui.core.clock import SYSTEM_CLOCK, business_date
from puhui.core.errors import PuhuiError
from puhui.db.engine import database_url, make_engine, run_in_transaction
from puhui.db.migrate import upgrade
from puhui.identity import otp
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring, blind_index, new_key_text
from puhui.ledger.codes import AccountCode
from puhui.ledger.models import accounts as ledger_accounts
from puhui.ledger.verify import verify
from puhui.lending import accounts, debit_channel, products
from puhui.lending.models import loans
from puhui.marketplace import listings
from puhui.marketplace.models import listings as listing_rows
from puhui.sim import borrowing, market
from puhui.sim.run import run as simulate
from puhui.sim.seed import demo_password
from puhui.sim.world import SimConfig, World

#: (kind, weight): what a signed-in user does next.
MIX = [
    ("me", 20),
    ("loans", 15),
    ("loan", 15),
    ("schedule", 10),
    ("listings", 15),
    ("repay", 15),
    ("bid", 15),
    ("relogin", 5),
]
#: Kinds only a borrower does (on the loan of theirs the driver picked) and only an investor.
BORROWER_ONLY = frozenset({"loans", "loan", "schedule", "repay"})
INVESTOR_ONLY = frozenset({"bid"})
#: Codes of a bid's business refusal (marketplace.bids, marketplace.rules, identity.risk,
#: custody.authorisations): the platform said no, correctly; not an error.
BID_REFUSALS = frozenset(
    {
        "listing_not_open",
        "listing_full",
        "amount_over_remaining",
        "disclosure_stale",
        "insufficient_funds",
        "risk_assessment_required",
        "risk_notice_required",
        "project_grade_not_allowed",
        "amount_over_single_limit",
        "amount_over_total_limit",
        "custody_authorisation_required",
    }
)
#: A bidder who finds no open listing with money still to raise bids nothing: counted under
#: this code (no request is sent).
NO_LISTING = "no_open_listing"
#: The most a listing for the run raises: 2,000 yuan, twenty minimum bids, so listings fill
#: and fund within a run of a minute (borrowers ask for several times more).
LISTING_FEN = 200_000
#: Share of bids on the open listing closest to full rather than on any open listing.
CLOSEST_SHARE = 0.5
CARD_FEN = 100_000_000  # 1,000,000 yuan on each user's sandbox card: repayments never bounce
SERVE = [sys.executable, "-c", "from puhui.cli import main; main()", "serve"]
#: Sign-ins in flight at once before the window: 200 argon2id hashes (64 MiB, 3 passes each)
#: at once only measure a login storm, and time the clients out.
SIGNIN_AT_ONCE = 8
REPAY_FEN = 100  # one yuan: lands on what is due, else on the credit balance


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    #: kind → refusal code → count (business refusals: answered, correctly, with a no).
    refusals: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, kind: str, seconds: float, ok: bool, detail: str = "") -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        if not ok:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            self.examples.setdefault(kind, detail[:200])

    def refuse(self, kind: str, code: str) -> None:
        per = self.refusals.setdefault(kind, {})
        per[code] = per.get(code, 0) + 1


@dataclass(frozen=True)
class User:
    customer_id: int
    phone: str
    #: The borrower's loan the driver views and repays; None for an investor.
    loan_id: int | None
    address: str

    @property
    def investor(self) -> bool:
        return self.loan_id is None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--think", type=float, default=1.0, help="mean think time, seconds")
    p.add_argument("--baseline", type=float, default=15.0, help="seconds of GET /metrics")
    p.add_argument("--borrowers", type=int, default=300)
    p.add_argument("--investors", type=int, default=20)
    p.add_argument(
        "--bidders",
        type=int,
        help="users who are investors and bid (default: --investors, at most a tenth of --users)",
    )
    p.add_argument("--listings", type=int, default=20, help="open listings for the bidders")
    p.add_argument(
        "--listing-fen",
        type=int,
        default=LISTING_FEN,
        help="largest amount a listing raises (small, so listings fill within the run)",
    )
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--markdown", type=Path, help="also write the report here")
    args = p.parse_args()

    name = f"puhui_load_{os.getpid()}"
    base = make_url(database_url(args.pg))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=20)
    try:
        return _run(args, engine, url)
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept database {name}")
        admin.dispose()


def _run(args: argparse.Namespace, engine: Engine, url: str) -> int:
    master, index = f"k1:{new_key_text()}", new_key_text()
    keys = Keyring.parse(master, index)
    t0 = time.perf_counter()
    upgrade(engine)
    start = business_date(SYSTEM_CLOCK.now()) - timedelta(days=args.days)
    config = SimConfig(
        seed=args.seed,
        days=args.days,
        borrowers=args.borrowers,
        investors=args.investors,
        start=start,
        statement_dir=Path(f"/tmp/puhui_load_statements_{os.getpid()}"),
        book_at_start=True,
        marketplace=True,
    )
    result = simulate(config, engine, keys)
    print(f"demo book: {time.perf_counter() - t0:.1f} s; checks passed: {result.summary.passed}")
    bidders = args.bidders if args.bidders is not None else min(args.investors, args.users // 10)
    users = _users(engine, result.world, args.users - bidders)
    users += _investors(result.world, bidders, first=len(users))
    t1 = time.perf_counter()
    opened = _open_listings(
        result.world, args.listings, args.listing_fen, skip={u.customer_id for u in users}
    )
    print(f"{len(opened)} listing(s) opened for the bidders in {time.perf_counter() - t1:.1f} s")
    run_in_transaction(
        engine,
        lambda c: debit_channel.fund(
            c,
            balances={u.customer_id: CARD_FEN for u in users if not u.investor},
            clock=SYSTEM_CLOCK,
        ),
    )
    before = _money(engine)
    password = demo_password(args.seed, "customers")

    port = _free_port()
    server_log = Path(f"/tmp/puhui_load_server_{os.getpid()}.log")
    env = {**os.environ, "PUHUI_MASTER_KEY": master, "PUHUI_BLIND_INDEX_KEY": index}
    server = subprocess.Popen(
        [*SERVE, "--port", str(port), "--workers", str(args.workers), "--database", url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=server_log.open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        with httpx.Client() as probe:
            paths = probe.get(f"{base}/openapi.json").json()["paths"]
        has_listings = "/api/v1/me/marketplace/listings" in paths
        stats, signin, baseline = Stats(), Stats(), Stats()
        signin_s, elapsed, baseline_s = asyncio.run(
            _load(base, users, password, keys, engine, args, stats, signin, baseline, has_listings)
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    after = _money(engine)
    with engine.connect() as conn:
        problems = verify(conn)
        tb = accounts.trial_balance(conn)
        sub = accounts.check_subledger(conn)
    report = _report(args, stats, elapsed, has_listings, signin, signin_s, baseline, baseline_s)
    report += "\n\n" + _bid_report(stats, bidders, _listing_states(engine, opened))
    checks = [
        f"ledger verify: {'ok' if not problems else f'{len(problems)} problem(s)'}",
        f"trial balance: {'balanced' if tb.balanced else 'UNBALANCED'}",
        f"sub-ledger = GL: {sub or 'yes'}",
        f"total money before {before:,} fen, after {after:,} fen: "
        + ("unchanged" if before == after else f"CHANGED by {after - before:,}"),
    ]
    text_out = (
        report
        + f"\n\nServer log (JSON lines): {server_log}\n\nAfterwards:\n\n"
        + "\n".join(f"- {c}" for c in checks)
        + "\n"
    )
    print(text_out)
    if args.markdown:
        args.markdown.write_text(text_out)
    return 0 if (not problems and tb.balanced and not sub and before == after) else 1


def _address(i: int) -> str:
    return f"127.0.{2 + i // 250}.{2 + i % 250}"


def _users(engine: Engine, world, n: int) -> list[User]:  # type: ignore[no-untyped-def]
    """``n`` borrowers with a loan on the book, each with a loopback address of its own."""
    phones = dict(zip(world.borrower_ids.tolist(), world.borrowers.people.phone, strict=True))
    with engine.connect() as conn:
        rows = conn.execute(
            select(loans.c.customer_id, func.min(loans.c.id))
            .where(loans.c.state.in_(accounts.ON_BOOK))
            .group_by(loans.c.customer_id)
            .order_by(loans.c.customer_id)
        ).all()
    picked = [(cid, lid) for cid, lid in rows if cid in phones][:n]
    if len(picked) < n:
        raise SystemExit(f"only {len(picked)} borrowers have a loan: raise --borrowers")
    return [User(cid, str(phones[cid]), lid, _address(i)) for i, (cid, lid) in enumerate(picked)]


def _investors(world: World, n: int, *, first: int) -> list[User]:
    """``n`` of the simulated investors (lender custody sub-account, standing authorisation,
    risk assessment and deposits from the simulation), addresses after the ``first`` users'."""
    assert world.investors is not None
    ids = world.investor_ids.tolist()
    if len(ids) < n:
        raise SystemExit(f"only {len(ids)} investors: raise --investors or lower --bidders")
    phones = world.investors.people.phone
    return [User(int(ids[k]), str(phones[k]), None, _address(first + k)) for k in range(n)]


def _open_listings(world: World, n: int, most_fen: int, *, skip: set[int]) -> list[int]:
    """Open up to ``n`` marketplace listings, as the simulation does (sim.market): borrowers
    not among the users, from the last one back, apply for the marketplace product (for at
    most ``most_fen``, never below ten minimum bids) through the credit decision; each
    approved one gets its custody sub-account and repayment authorisation, and its listing is
    published. The listings' ids."""
    if n <= 0 or world.marketplace_code is None or world.borrowers is None:
        return []
    with world.engine.connect() as conn:
        version = products.get_product(conn, code=world.marketplace_code)
    ops = Actor(f"staff:{world.staff_ids['operations_manager']}")
    opened: list[int] = []
    rows = range(len(world.borrower_ids) - 1, -1, -1)
    candidates = [r for r in rows if int(world.borrower_ids[r]) not in skip][: 4 * n]
    for row in candidates:  # about half are approved: four candidates a listing
        if len(opened) == n:
            break
        cid = int(world.borrower_ids[row])
        amount, term = market.market_terms(
            world, row, version.terms.terms, min(version.terms.max_amount_fen, most_fen)
        )
        app_id, state = borrowing.decide(
            world, row, version.version_id, amount_fen=amount, term=term, offer=False
        )
        if state != "approved":
            continue
        market.borrower_account(world, cid)

        def list_it(c: Connection, app_id: int = app_id, row: int = row) -> int:
            draft = listings.create_listing(
                c,
                application_id=app_id,
                title="个人消费借款",
                description="借款人按月等额本息还款；出借有风险，请审慎决策。",
                risk_grade=market.grade_of(float(world.borrowers.pd[row])),  # type: ignore[union-attr]
                min_bid_fen=market.MIN_BID_FEN,
                step_fen=market.MIN_BID_FEN,
                disclosure=market.disclosure_of(world, row),
                actor=ops,
                clock=world.clock,
            )
            listings.publish(c, listing_id=draft.id, actor=ops, clock=world.clock)
            return draft.id

        try:
            listing_id = run_in_transaction(world.engine, list_it)
        except PuhuiError as exc:
            print(f"listing for customer {cid} refused: {exc.code}")
            continue
        opened.append(listing_id)
    return opened


def _listing_states(engine: Engine, ids: list[int]) -> dict[str, int]:
    """How many of the run's listings are in each state afterwards (funded: the bid that
    filled it made the notes and the loan)."""
    lr = listing_rows.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(lr.status, func.count()).where(lr.id.in_(ids)).group_by(lr.status)
        ).all()
    return {str(status): int(n) for status, n in rows}


def _money(engine: Engine) -> int:
    """Money that exists: on the borrowers' sandbox cards, the company's cash at the bank and
    the custody master account (both debit-normal assets in the ledger)."""
    a = ledger_accounts.c
    cards = debit_channel.debit_sandbox_accounts.c
    with engine.connect() as conn:
        held = conn.execute(
            select(func.coalesce(func.sum(a.debits_posted - a.credits_posted), 0)).where(
                a.code.in_([AccountCode.COMPANY_CASH, AccountCode.CUSTODY_MASTER])
            )
        ).scalar_one()
        on_cards = conn.execute(select(func.coalesce(func.sum(cards.balance_fen), 0))).scalar_one()
    return int(held) + int(on_cards)


async def _load(
    base: str,
    users: list[User],
    password: str,
    keys: Keyring,
    engine: Engine,
    args: argparse.Namespace,
    stats: Stats,
    signin: Stats,
    baseline: Stats,
    has_listings: bool,
) -> tuple[float, float, float]:
    """Sign every user in (timed apart: an argon2 hash each), run the mix for ``--duration``
    seconds, then the baseline (``GET /metrics``: the same clients, server and think time, no
    database) for ``--baseline`` seconds; the three phases' seconds."""
    mixes = {}
    for investor in (False, True):
        excluded = BORROWER_ONLY if investor else INVESTOR_ONLY
        if not has_listings:
            excluded = excluded | {"listings", "bid"}
        mix = [(k, w) for k, w in MIX if k not in excluded]
        mixes[investor] = tuple(zip(*mix, strict=True))
    began = time.perf_counter()
    window: dict[str, float] = {}
    ready = asyncio.Event()
    signed_in: list[int] = []
    gate = asyncio.Semaphore(SIGNIN_AT_ONCE)
    finished: list[int] = []
    mixed = asyncio.Event()

    def login_code(phone: str) -> str:
        bidx = blind_index(keys, "phone", phone)
        return run_in_transaction(
            engine,
            lambda c: otp.issue_code(
                c, keys=keys, phone_bidx=bidx, purpose="login", clock=SYSTEM_CLOCK
            ),
        )

    async def timed(kind: str, send, into: Stats = stats) -> httpx.Response | None:  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            try:
                r = await send()
            except httpx.RemoteProtocolError:
                # the server closed an idle keep-alive connection as this request went out on
                # it (uvicorn: after 5 s); send again once, on a new connection, as browsers do
                r = await send()
        except httpx.HTTPError as exc:
            into.add(kind, time.perf_counter() - t, False, repr(exc))
            return None
        into.add(kind, time.perf_counter() - t, r.is_success, f"{r.status_code} {r.text}")
        return r

    async def user(u: User, rng: random.Random) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=u.address)
        async with httpx.AsyncClient(base_url=base, transport=transport, timeout=120) as http:
            await asyncio.sleep(rng.uniform(0, 5.0))  # arrivals spread over 5 s
            headers: dict[str, str] = {}

            async def login(into: Stats = stats) -> None:
                """Sign in; a failed attempt (counted) is tried again, up to three times."""
                headers.clear()
                for _ in range(3):
                    code = await asyncio.to_thread(login_code, u.phone)
                    body = {"phone": u.phone, "password": password, "code": code}
                    r = await timed(
                        "login", lambda b=body: http.post("/api/v1/auth/login", json=b), into
                    )
                    http.cookies.clear()
                    if r is not None and r.is_success:
                        headers["Authorization"] = f"Bearer {r.json()['token']}"
                        return

            async with gate:  # at most SIGNIN_AT_ONCE sign-ins in flight
                await login(signin)
            signed_in.append(u.customer_id)
            if len(signed_in) == len(users):
                window["start"] = time.perf_counter()
                window["end"] = window["start"] + args.duration
                ready.set()
            await ready.wait()
            while time.perf_counter() < window["end"]:
                await asyncio.sleep(rng.expovariate(1 / args.think) if args.think else 0)
                if time.perf_counter() >= window["end"]:
                    break
                kinds, weights = mixes[u.investor]
                kind = rng.choices(kinds, weights)[0]
                loan = f"/api/v1/me/loans/{u.loan_id}"
                if kind == "me":
                    await timed(kind, lambda: http.get("/api/v1/me", headers=headers))
                elif kind == "loans":
                    await timed(kind, lambda: http.get("/api/v1/me/loans", headers=headers))
                elif kind == "loan":
                    await timed(kind, lambda path=loan: http.get(path, headers=headers))
                elif kind == "schedule":
                    await timed(
                        kind, lambda path=loan: http.get(f"{path}/schedule", headers=headers)
                    )
                elif kind == "listings":
                    await timed(
                        kind,
                        lambda: http.get("/api/v1/me/marketplace/listings", headers=headers),
                    )
                elif kind == "bid":
                    await bid(http, headers, rng)
                elif kind == "repay":
                    h = {**headers, "Idempotency-Key": secrets.token_hex(16)}
                    await timed(
                        kind,
                        lambda path=loan, h=h: http.post(
                            f"{path}/repayments", json={"amount_fen": REPAY_FEN}, headers=h
                        ),
                    )
                else:
                    await timed("logout", lambda: http.post("/api/v1/auth/logout", headers=headers))
                    await login()

            finished.append(u.customer_id)
            if len(finished) == len(users):
                window["stop"] = time.perf_counter()
                window["base_end"] = window["stop"] + args.baseline
                mixed.set()
            await mixed.wait()
            while time.perf_counter() < window["base_end"]:  # the baseline: no database
                await asyncio.sleep(rng.expovariate(1 / args.think) if args.think else 0)
                await timed("metrics", lambda: http.get("/metrics"), baseline)

    async def bid(http: httpx.AsyncClient, headers: dict[str, str], rng: random.Random) -> None:
        """Read the open listings, bid the minimum on one that still needs money (all that
        remains when that is less); a business refusal is counted by its code."""
        r = await timed(
            "listings",
            lambda: http.get(
                "/api/v1/me/marketplace/listings", params={"limit": 100}, headers=headers
            ),
        )
        if r is None or not r.is_success:
            return
        open_now = [x for x in r.json()["data"] if x["remaining_fen"] > 0]
        if not open_now:
            stats.refuse("bid", NO_LISTING)
            return
        # half the time the listing closest to full (so listings fill and fund within a
        # short run, and bidders meet on one listing's lock), else any of them
        if rng.random() < CLOSEST_SHARE:
            x = min(open_now, key=lambda x: (x["remaining_fen"], x["id"]))
        else:
            x = rng.choice(open_now)
        body = {
            "amount_fen": min(x["min_bid_fen"], x["remaining_fen"]),
            "disclosure_version": x["disclosure_version"],
        }
        h = {**headers, "Idempotency-Key": secrets.token_hex(16)}
        path = f"/api/v1/me/marketplace/listings/{x['id']}/bids"
        t = time.perf_counter()
        try:
            try:
                r = await http.post(path, json=body, headers=h)
            except httpx.RemoteProtocolError:
                # an idle keep-alive connection closed under it (as in ``timed``): the same
                # Idempotency-Key makes sending it again safe
                r = await http.post(path, json=body, headers=h)
        except httpx.HTTPError as exc:
            stats.add("bid", time.perf_counter() - t, False, repr(exc))
            return
        seconds = time.perf_counter() - t
        code = _error_code(r)
        if r.status_code in (403, 409) and code in BID_REFUSALS:
            stats.add("bid", seconds, True)
            stats.refuse("bid", code)
        else:
            stats.add("bid", seconds, r.is_success, f"{r.status_code} {r.text}")

    seeds = np.random.default_rng(args.seed).integers(0, 2**31, len(users))
    await asyncio.gather(
        *(user(u, random.Random(int(s))) for u, s in zip(users, seeds, strict=True))
    )
    return (
        window["start"] - began,
        window["stop"] - window["start"],
        time.perf_counter() - window["stop"],
    )


def _error_code(r: httpx.Response) -> str:
    """The ``error.code`` of an error response, else ""."""
    if r.is_success:
        return ""
    try:
        return str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def _bid_report(stats: Stats, bidders: int, states: dict[str, int]) -> str:
    """The bids: placed, refused by code (not errors), errors; the listings' states after."""
    sent = len(stats.latencies.get("bid", []))
    refused = stats.refusals.get("bid", {})
    no_listing = refused.get(NO_LISTING, 0)
    answered_no = sum(refused.values()) - no_listing
    errors = stats.errors.get("bid", 0)
    lines = [
        f"Bids ({bidders} investors, {sum(states.values())} listings opened before the run, "
        f"afterwards {', '.join(f'{n} {st}' for st, n in sorted(states.items())) or 'none'}): "
        f"{sent:,} sent, "
        f"{sent - answered_no - errors:,} placed, {answered_no:,} refused (business "
        f"refusals, not errors), {errors:,} errors; {no_listing:,} times a bidder found no "
        "open listing with money to raise and sent none.",
    ]
    if answered_no:
        lines += ["", "| refusal | bids |", "|---|---:|"]
        lines += [
            f"| {code} | {n:,} |"
            for code, n in sorted(refused.items(), key=lambda kv: -kv[1])
            if code != NO_LISTING
        ]
    return "\n".join(lines)


def _report(
    args: argparse.Namespace,
    stats: Stats,
    elapsed: float,
    has_listings: bool,
    signin: Stats,
    signin_s: float,
    baseline: Stats,
    baseline_s: float,
) -> str:
    all_lat = np.array([x for v in stats.latencies.values() for x in v])
    total, errors = len(all_lat), sum(stats.errors.values())

    def pct(values: np.ndarray) -> str:
        if not len(values):
            return "– | – | –"
        p50, p95, p99 = np.percentile(values * 1000, [50, 95, 99])
        return f"{p50:,.0f} | {p95:,.0f} | {p99:,.0f}"

    lines = [
        f"`bench/load.py --users {args.users} --duration {args.duration:g} "
        f"--workers {args.workers} --think {args.think:g} --listings {args.listings}` — "
        f"{total:,} requests in "
        f"{elapsed:.1f} s = **{total / elapsed:,.1f} requests/s**, error rate "
        f"**{errors / max(total, 1):.2%}** ({errors:,}); load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end",
        "",
        "| kind | requests | errors | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind in sorted(stats.latencies):
        lat = np.array(stats.latencies[kind])
        lines.append(f"| {kind} | {len(lat):,} | {stats.errors.get(kind, 0):,} | {pct(lat)} |")
    lines.append(f"| **all** | {total:,} | {errors:,} | {pct(all_lat)} |")
    first = np.array(signin.latencies.get("login", []))
    lines.append(
        f"\nSign-in phase before the window: {len(first):,} sign-ins (argon2id each) in "
        f"{signin_s:.1f} s, {sum(signin.errors.values()):,} errors, p50/p95/p99 "
        f"{pct(first).replace(' | ', ' / ')} ms."
    )
    base_lat = np.array(baseline.latencies.get("metrics", []))
    base_rate = len(base_lat) / baseline_s if baseline_s else 0.0
    lines.append(
        f"\nBaseline in the same run, `GET /metrics` (no database) from the same users with the "
        f"same think time for {baseline_s:.1f} s: {base_rate:,.1f} requests/s, "
        f"{sum(baseline.errors.values()):,} errors, p50/p95/p99 "
        f"{pct(base_lat).replace(' | ', ' / ')} ms; the mix runs at "
        f"{total / elapsed / max(base_rate, 1e-9):.2f}× its throughput."
    )
    if not has_listings:
        lines.append("\n(no marketplace listing route in this tree: listing views left out)")
    for kind, example in (signin.examples | stats.examples | baseline.examples).items():
        lines.append(f"\nfirst {kind} error: `{example}`")
    return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("puhui serve exited early")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                time.sleep(1.0)  # the other workers finish starting
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("puhui serve did not become healthy")


if __name__ == "__main__":
    sys.exit(main())
