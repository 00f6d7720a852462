"""The audit log viewer (``audit.read``): entries, newest page last, filtered by object, and a
button that re-verifies the whole hash chain and its seals (``puhui audit verify``'s check).

Read-only like the API: nothing here can change or delete an entry.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from puhui.identity import audit
from puhui.web import nav
from puhui.web.common import EngineDep
from puhui.web.i18n import N_
from puhui.web.nav import NavItem
from puhui.web.render import fragment, page
from puhui.web.security import StaffDep

router = APIRouter(prefix="/admin", include_in_schema=False)
nav.register("admin", NavItem("audit", N_("Audit log"), "/admin/audit", 80, "audit.read"))
PAGE = 50


@router.get("/audit")
def audit_log(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    v.require("audit.read")
    q = request.query_params
    after = int(q["after"]) if q.get("after", "").isdigit() else 0
    object_type = q.get("object_type", "")[:32] or None
    object_id = q.get("object_id", "")[:64] or None
    with engine.connect() as c:
        rows = audit.list_entries(
            c, after_seq=after, limit=PAGE + 1, object_type=object_type, object_id=object_id
        )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return page(
        request,
        v,
        "admin/audit.html",
        active="audit",
        rows=rows,
        next_after=rows[-1].seq if more and rows else None,
        object_type=object_type or "",
        object_id=object_id or "",
    )


@router.get("/audit/verify")
def verify(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    """Walk the chain and the seals; the answer names the first problems found."""
    v.require("audit.read")
    with engine.connect() as c:
        problems = [str(p) for p in audit.verify(c)[:20]]
    context = {"problems": problems, "checked": True}
    if request.headers.get("HX-Request"):
        return fragment(request, "admin/_verify.html", **context)
    return page(request, v, "admin/verify.html", active="audit", **context)
