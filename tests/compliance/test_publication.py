"""Publication: immutable versions, corrections, the deadline, refusing missing items;
major events and their 48-hour deadline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from puhui.compliance import events, publication
from puhui.compliance.models import reports
from puhui.compliance.related import flag_related_party
from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict, NotFound, ValidationError

from .book import PERIOD, build

STAFF = "staff:9"


def _count(conn) -> int:
    return conn.execute(select(func.count()).select_from(reports)).scalar()


def test_versions_are_immutable_and_corrections_link_back(engine, clock):
    with engine.begin() as conn:
        book = build(conn, clock)  # the clock ends on 2026-11-02, before the 11-06 deadline
        v1 = publication.publish(conn, period=PERIOD, published_by=STAFF, clock=clock)
        assert (v1.version, v1.supersedes_id, v1.late) == (1, None, False)
        assert v1.deadline == date(2026, 11, 6)
        assert v1.content_sha256 == publication.content_hash(v1.snapshot)
        assert v1.snapshot["items"]["cum_loan_count"] == 14
        assert [t["period"] for t in v1.snapshot["trend"]][-2:] == ["2026-09", "2026-10"]

        with pytest.raises(Conflict) as err:
            publication.publish(conn, period=PERIOD, published_by=STAFF, clock=clock)
        assert err.value.code == "already_published"
        with pytest.raises(Conflict) as err:
            publication.publish(
                conn, period=PERIOD, published_by=STAFF, clock=clock, correction_reason="recheck"
            )
        assert err.value.code == "unchanged"
        assert _count(conn) == 1

        # A related party found later: the correction is version 2, linked to version 1.
        flag_related_party(
            conn, customer_id=book.customers["B"], relation="director", disclosed=True, clock=clock
        )
        clock.set(datetime(2026, 11, 9, 2, tzinfo=UTC))  # after the deadline
        v2 = publication.publish(
            conn, period=PERIOD, published_by=STAFF, clock=clock, correction_reason="B is related"
        )
        assert (v2.version, v2.supersedes_id, v2.late) == (2, v1.id, True)
        assert v2.snapshot["items"]["related_party_count"] == 2
        assert v2.content_sha256 != v1.content_sha256
        # Version 1 is untouched and still readable.
        again = publication.latest(conn, period=PERIOD, version=1)
        assert again == v1
        assert publication.latest(conn, period=PERIOD) == v2
        assert [p.version for p in publication.versions(conn, period=PERIOD)] == [1, 2]
        assert publication.published_periods(conn) == [{"period": PERIOD, "version": 2}]


def test_publication_refuses_a_missing_item_and_an_unfinished_month(engine, clock):
    with engine.begin() as conn:
        snap = publication.build_snapshot(conn, period=PERIOD)
        snap["items"]["overdue_90_count"] = None
        with pytest.raises(ValidationError) as err:
            publication.publish(conn, period=PERIOD, published_by=STAFF, clock=clock, snapshot=snap)
        assert err.value.code == "items_missing" and "overdue_90_count" in err.value.message
        del snap["items"]["fee_schedule"]
        with pytest.raises(ValidationError):
            publication.publish(conn, period=PERIOD, published_by=STAFF, clock=clock, snapshot=snap)
        with pytest.raises(ValidationError) as err:
            publication.publish(conn, period="2026-11", published_by=STAFF, clock=clock)
        assert err.value.code == "period_not_over"
        with pytest.raises(ValidationError):
            publication.publish(
                conn, period=PERIOD, published_by=STAFF, clock=clock, correction_reason="x"
            )
        assert _count(conn) == 0
        with pytest.raises(NotFound):
            publication.latest(conn, period=PERIOD)


def test_deadline_reminder(engine):
    clock = FixedClock(datetime(2026, 11, 9, 2, tzinfo=UTC))
    with engine.begin() as conn:
        due = publication.due_unpublished(conn, clock=clock)
        assert due == {"period": "2026-10", "deadline": date(2026, 11, 6), "overdue": True}
        publication.publish(conn, period="2026-10", published_by=STAFF, clock=clock)
        assert publication.due_unpublished(conn, clock=clock) is None


def test_major_event_is_due_within_48_hours(engine, clock):
    happened = clock.now() - timedelta(hours=2)
    texts = {
        "title": "重大诉讼",
        "cause": "a lender sued",
        "current_status": "filed in court",
        "impact": "none on repayments",
        "measures": "counsel engaged",
    }
    with engine.begin() as conn:
        ev = events.record_event(
            conn, kind="litigation", occurred_at=happened, recorded_by=STAFF, clock=clock, **texts
        )
        assert ev.due_at == happened + timedelta(hours=48) and ev.published_at is None
        assert events.overdue_events(conn, clock=clock) == []
        clock.advance(timedelta(hours=46, seconds=1))
        assert [e.id for e in events.overdue_events(conn, clock=clock)] == [ev.id]
        done = events.publish_event(conn, event_id=ev.id, clock=clock)
        assert done.published_at == clock.now()
        assert events.overdue_events(conn, clock=clock) == []
        assert [e.id for e in events.published_events(conn)] == [ev.id]
        with pytest.raises(Conflict):
            events.publish_event(conn, event_id=ev.id, clock=clock)
        with pytest.raises(ValidationError) as err:
            events.record_event(
                conn,
                kind="litigation",
                occurred_at=happened,
                recorded_by=STAFF,
                clock=clock,
                **{**texts, "measures": " "},
            )
        assert err.value.field == "measures"


def test_the_database_refuses_to_change_a_published_report(engine, clock):
    with engine.begin() as conn:
        p = publication.publish(conn, period=PERIOD, published_by=STAFF, clock=clock)
    for statement in (
        reports.update().where(reports.c.id == p.id).values(figures_json="{}"),
        reports.delete().where(reports.c.id == p.id),
    ):
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(statement)
    with engine.connect() as conn:
        assert publication.latest(conn, period=PERIOD) == p


@pytest.mark.postgresql_only
def test_two_staff_publishing_at_once_make_one_version(engine, clock):
    """Both compute version 1; the unique (period, version) lets one win, the other is told."""
    import threading

    from puhui.db.engine import run_in_transaction

    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def publish_one(who: str) -> None:
        def work(conn):
            snap = publication.build_snapshot(conn, period=PERIOD)
            barrier.wait(timeout=10)
            return publication.publish(
                conn, period=PERIOD, published_by=who, clock=clock, snapshot=snap
            )

        try:
            outcomes.append(run_in_transaction(engine, work))
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=publish_one, args=(f"staff:{k}",)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(o if isinstance(o, str) else "published" for o in outcomes) == [
        "already_published",
        "published",
    ]
    with engine.connect() as conn:
        assert [p.version for p in publication.versions(conn, period=PERIOD)] == [1]


def test_institution_information_comes_from_the_operators_file(
    engine, clock, tmp_path, monkeypatch
):
    path = tmp_path / "institution.toml"
    path.write_text(
        '[organisation]\nfull_name = "普惠示例信息科技有限公司"\nuscc = "91350100M000100Y43"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PUHUI_INSTITUTION_FILE", str(path))
    with engine.begin() as conn:
        p = publication.publish(conn, period=PERIOD, published_by=STAFF, clock=clock)
    org = p.snapshot["institution"]["organisation"]
    assert (org["full_name"], org["uscc"]) == ("普惠示例信息科技有限公司", "91350100M000100Y43")
    assert p.snapshot["institution"]["filing"]["custody"]  # the placeholder stays for the rest
