"""Investor suitability (P2P-LND-01..04): a versioned risk questionnaire, the level C1..C5 it
yields (valid 12 months), each level's amount limits and allowed project grades R1..R5, and the
risk notice the lender confirms before a first investment.

The questionnaire covers the five dimensions the rule names — age, financial status,
investment experience, risk preference, risk tolerance — with two or more questions each.
Limits have defaults here and run-time overrides in ``identity_risk_limits`` ("可动态调整").
``check_investment`` is what an investment endpoint calls before it records anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from puhui.core.clock import Clock
from puhui.core.errors import NotFound, ValidationError
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.identity.errors import Forbidden
from puhui.identity.models import consents, questionnaires, risk_assessments, risk_limits
from puhui.identity.times import now_us, span_us

VALIDITY = timedelta(days=365)
LEVELS = ("C1", "C2", "C3", "C4", "C5")
GRADES = ("R1", "R2", "R3", "R4", "R5")
DIMENSIONS = ("age", "finances", "experience", "preference", "tolerance")


def _q(qid: str, dim: str, text: str, *options: tuple[str, int]) -> dict[str, Any]:
    return {
        "id": qid,
        "dimension": dim,
        "text": text,
        "options": [{"id": chr(97 + i), "text": t, "score": s} for i, (t, s) in enumerate(options)],
    }


BUILTIN_QUESTIONNAIRE: dict[str, Any] = {
    "version": "2026.1",
    "title": "出借人风险承受能力评估问卷",
    "questions": [
        _q(
            "q1",
            "age",
            "您的年龄是？",
            ("18-25岁", 3),
            ("26-40岁", 4),
            ("41-55岁", 3),
            ("56-65岁", 2),
            ("65岁以上", 0),
        ),
        _q(
            "q2",
            "age",
            "您距离退休还有多少年？",
            ("已退休", 0),
            ("5年以内", 1),
            ("5-15年", 3),
            ("15年以上", 4),
        ),
        _q(
            "q3",
            "finances",
            "您的家庭年收入是？",
            ("10万元以下", 1),
            ("10-30万元", 2),
            ("30-100万元", 3),
            ("100万元以上", 4),
        ),
        _q(
            "q4",
            "finances",
            "可用于出借的资金占家庭金融资产的比例？",
            ("70%以上", 0),
            ("30%-70%", 2),
            ("10%-30%", 3),
            ("10%以下", 4),
        ),
        _q(
            "q5",
            "finances",
            "您是否有尚未清偿的数额较大的债务？",
            ("有，压力较大", 0),
            ("有，压力可控", 2),
            ("没有", 4),
        ),
        _q(
            "q6",
            "experience",
            "您投资非保本类金融产品的年限？",
            ("没有经验", 0),
            ("2年以下", 1),
            ("2-5年", 3),
            ("5年以上", 4),
        ),
        _q(
            "q7",
            "experience",
            "您投资过哪些产品？（选最高风险的一项）",
            ("银行存款", 0),
            ("债券、货币基金", 1),
            ("股票、混合基金", 3),
            ("期货、网络借贷等", 4),
        ),
        _q(
            "q8",
            "experience",
            "您对网络借贷风险的了解程度？",
            ("不了解", 0),
            ("一般了解", 2),
            ("充分了解", 4),
        ),
        _q(
            "q9",
            "preference",
            "您的投资目标是？",
            ("保本为主", 0),
            ("稳健增值", 2),
            ("较高收益", 3),
            ("高收益", 4),
        ),
        _q(
            "q10",
            "preference",
            "您计划的出借期限？",
            ("3个月以内", 1),
            ("3-12个月", 2),
            ("1-3年", 3),
            ("3年以上", 4),
        ),
        _q(
            "q11",
            "tolerance",
            "本金出现多大亏损时您会明显焦虑？",
            ("任何亏损", 0),
            ("10%以内", 2),
            ("10%-30%", 3),
            ("30%以上", 4),
        ),
        _q(
            "q12",
            "tolerance",
            "出借项目逾期时您会？",
            ("立即要求退出", 0),
            ("等待催收结果", 2),
            ("接受风险，继续出借", 4),
        ),
    ],
    #: score bands, lowest first: a total at or above ``min`` reaches the level
    "bands": [
        {"level": "C1", "min": 0},
        {"level": "C2", "min": 16},
        {"level": "C3", "min": 26},
        {"level": "C4", "min": 34},
        {"level": "C5", "min": 42},
    ],
}

RISK_NOTICE = {
    "version": "2026.1",
    "text": (
        "网络借贷风险提示：出借人应自行承担借贷产生的本息损失；平台不提供担保，不承诺保本保息。"
        "禁止性行为：平台不得自融、不得设立资金池、不得向出借人承诺保本保息……"
    ),
}


@dataclass(frozen=True)
class Limits:
    level: str
    max_single_fen: int
    max_total_fen: int
    allowed_grades: tuple[str, ...]


DEFAULT_LIMITS: dict[str, Limits] = {
    "C1": Limits("C1", 1_000_000, 5_000_000, ("R1",)),
    "C2": Limits("C2", 3_000_000, 10_000_000, ("R1", "R2")),
    "C3": Limits("C3", 5_000_000, 20_000_000, ("R1", "R2", "R3")),
    "C4": Limits("C4", 10_000_000, 50_000_000, ("R1", "R2", "R3", "R4")),
    "C5": Limits("C5", 20_000_000, 100_000_000, GRADES),
}


def _digest(definition: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(definition, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


def current_questionnaire(conn: Connection) -> dict[str, Any]:
    row = conn.execute(
        select(questionnaires).order_by(questionnaires.c.published_us.desc()).limit(1)
    ).first()
    return json.loads(row.definition) if row is not None else BUILTIN_QUESTIONNAIRE


def publish(conn: Connection, *, definition: dict[str, Any], clock: Clock) -> str:
    """Store a questionnaire version (idempotent for the same content)."""
    questions = definition.get("questions", [])
    if len(questions) < 10 or {q["dimension"] for q in questions} != set(DIMENSIONS):
        raise ValidationError(
            "questionnaire_incomplete",
            "a questionnaire has at least 10 questions covering age, finances, experience, "
            "preference and tolerance",
            field="questions",
        )
    version = definition["version"]
    row = conn.execute(select(questionnaires).where(questionnaires.c.version == version)).first()
    if row is None:
        conn.execute(
            insert(questionnaires).values(
                version=version,
                definition=json.dumps(definition, ensure_ascii=False),
                digest=_digest(definition),
                published_us=now_us(clock),
            )
        )
    elif row.digest != _digest(definition):
        raise ValidationError(
            "questionnaire_version_taken", f"version {version} has other content", field="version"
        )
    return version


@dataclass(frozen=True)
class Assessment:
    id: int
    questionnaire_version: str
    score: int
    level: str
    dimensions: dict[str, int]
    assessed_us: int
    valid_until_us: int


def _assessment(r: Any) -> Assessment:
    return Assessment(
        r.id,
        r.questionnaire_version,
        r.score,
        r.level,
        json.loads(r.dimensions),
        r.assessed_us,
        r.valid_until_us,
    )


def score(definition: dict[str, Any], answers: dict[str, str]) -> tuple[int, str, dict[str, int]]:
    """The total, the level and the score per dimension; every question must be answered."""
    dims = dict.fromkeys(DIMENSIONS, 0)
    for q in definition["questions"]:
        chosen = answers.get(q["id"])
        option = next((o for o in q["options"] if o["id"] == chosen), None)
        if option is None:
            raise ValidationError(
                "answer_missing",
                f"answer question {q['id']} with one of its options",
                field=f"answers.{q['id']}",
            )
        dims[q["dimension"]] += option["score"]
    extra = set(answers) - {q["id"] for q in definition["questions"]}
    if extra:
        raise ValidationError("answer_unknown", f"no question {sorted(extra)[0]}", field="answers")
    total = sum(dims.values())
    level = [b["level"] for b in definition["bands"] if total >= b["min"]][-1]
    return total, level, dims


def assess(
    conn: Connection,
    *,
    customer_id: int,
    version: str,
    answers: dict[str, str],
    actor: Actor,
    clock: Clock,
) -> Assessment:
    definition = current_questionnaire(conn)
    if version != definition["version"]:
        raise ValidationError(
            "questionnaire_outdated",
            f"answer the current questionnaire {definition['version']}",
            field="version",
        )
    publish(conn, definition=definition, clock=clock)
    total, level, dims = score(definition, answers)
    now = now_us(clock)
    new_id = conn.execute(
        insert(risk_assessments).values(
            customer_id=customer_id,
            questionnaire_version=version,
            answers=json.dumps(answers, sort_keys=True),
            dimensions=json.dumps(dims),
            score=total,
            level=level,
            assessed_us=now,
            valid_until_us=now + span_us(VALIDITY),
        )
    ).inserted_primary_key[0]
    audit.record(
        conn,
        actor=actor,
        event="customer.risk_assessment",
        object_type="customer",
        object_id=customer_id,
        after={"level": level, "version": version},
        clock=clock,
    )
    return get_assessment(conn, customer_id=customer_id, assessment_id=new_id)


def get_assessment(conn: Connection, *, customer_id: int, assessment_id: int) -> Assessment:
    row = conn.execute(
        select(risk_assessments).where(
            risk_assessments.c.id == assessment_id, risk_assessments.c.customer_id == customer_id
        )
    ).first()
    if row is None:
        raise NotFound("assessment_not_found", "no such assessment")
    return _assessment(row)


def list_assessments(conn: Connection, *, customer_id: int) -> list[Assessment]:
    rows = conn.execute(
        select(risk_assessments)
        .where(risk_assessments.c.customer_id == customer_id)
        .order_by(risk_assessments.c.id)
    )
    return [_assessment(r) for r in rows]


def valid_assessment(conn: Connection, *, customer_id: int, clock: Clock) -> Assessment | None:
    row = conn.execute(
        select(risk_assessments)
        .where(
            risk_assessments.c.customer_id == customer_id,
            risk_assessments.c.valid_until_us > now_us(clock),
        )
        .order_by(risk_assessments.c.id.desc())
        .limit(1)
    ).first()
    return _assessment(row) if row is not None else None


def limits_for(conn: Connection, level: str) -> Limits:
    row = conn.execute(select(risk_limits).where(risk_limits.c.level == level)).first()
    if row is None:
        return DEFAULT_LIMITS[level]
    return Limits(
        row.level, row.max_single_fen, row.max_total_fen, tuple(row.allowed_grades.split(","))
    )


def set_limits(conn: Connection, *, limits: Limits, actor: Actor, clock: Clock) -> Limits:
    if limits.level not in LEVELS or not set(limits.allowed_grades) <= set(GRADES):
        raise ValidationError("limits_invalid", "levels are C1-C5 and grades R1-R5", field="level")
    values = {
        "max_single_fen": limits.max_single_fen,
        "max_total_fen": limits.max_total_fen,
        "allowed_grades": ",".join(limits.allowed_grades),
        "updated_us": now_us(clock),
        "updated_by": actor.principal,
    }
    before = limits_for(conn, limits.level)
    if conn.execute(select(risk_limits.c.level).where(risk_limits.c.level == limits.level)).first():
        conn.execute(
            risk_limits.update().where(risk_limits.c.level == limits.level).values(**values)
        )
    else:
        conn.execute(insert(risk_limits).values(level=limits.level, **values))
    audit.record(
        conn,
        actor=actor,
        event="risk.limits",
        object_type="risk_level",
        object_id=limits.level,
        before=before,
        after=limits,
        clock=clock,
    )
    return limits_for(conn, limits.level)


# -------------------------------------------------------------------------- risk notice


def notice_digest() -> str:
    return hashlib.sha256(f"{RISK_NOTICE['version']}\x1f{RISK_NOTICE['text']}".encode()).hexdigest()


def sign_notice(
    conn: Connection, *, customer_id: int, version: str, actor: Actor, clock: Clock
) -> int:
    """Record the lender's active confirmation of the current risk notice (P2P-LND-04)."""
    if version != RISK_NOTICE["version"]:
        raise ValidationError(
            "notice_outdated",
            f"confirm the current notice {RISK_NOTICE['version']}",
            field="version",
        )
    existing = _signed(conn, customer_id)
    if existing is not None:
        return existing
    new_id = conn.execute(
        insert(consents).values(
            customer_id=customer_id,
            purpose="risk_notice",
            kind="general",
            document_version=version,
            document_digest=notice_digest(),
            granted_us=now_us(clock),
            source_ip=actor.ip,
        )
    ).inserted_primary_key[0]
    audit.record(
        conn,
        actor=actor,
        event="customer.risk_notice",
        object_type="customer",
        object_id=customer_id,
        detail={"version": version},
        clock=clock,
    )
    return new_id


def _signed(conn: Connection, customer_id: int) -> int | None:
    return conn.execute(
        select(consents.c.id).where(
            consents.c.customer_id == customer_id,
            consents.c.purpose == "risk_notice",
            consents.c.document_version == RISK_NOTICE["version"],
            consents.c.withdrawn_us.is_(None),
        )
    ).scalar()


def check_investment(
    conn: Connection,
    *,
    customer_id: int,
    amount_fen: int,
    project_grade: str,
    invested_total_fen: int,
    clock: Clock,
) -> Limits:
    """Refuse an investment the lender's valid assessment does not allow (P2P-LND-01/03/04)."""
    assessment = valid_assessment(conn, customer_id=customer_id, clock=clock)
    if assessment is None:
        raise Forbidden(
            "risk_assessment_required", "complete the risk assessment (valid 12 months) first"
        )
    if _signed(conn, customer_id) is None:
        raise Forbidden("risk_notice_required", "confirm the risk notice first")
    limits = limits_for(conn, assessment.level)
    if project_grade not in limits.allowed_grades:
        raise Forbidden(
            "project_grade_not_allowed",
            f"level {assessment.level} may not invest in {project_grade} projects",
            field="project_grade",
        )
    if amount_fen > limits.max_single_fen:
        raise Forbidden(
            "amount_over_single_limit",
            f"level {assessment.level} invests at most {limits.max_single_fen} fen at once",
            field="amount_fen",
        )
    if invested_total_fen + amount_fen > limits.max_total_fen:
        raise Forbidden(
            "amount_over_total_limit",
            f"level {assessment.level} holds at most {limits.max_total_fen} fen in total",
            field="amount_fen",
        )
    return limits
