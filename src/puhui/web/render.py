"""Rendering pages: one Jinja2 environment, the layout's context, and errors in plain words.

Amounts are integer fen everywhere and shown through ``format_fen``; times are stored as UTC
microseconds and shown in Asia/Shanghai. A domain error is shown beside its field when it
names one; its text is translated through ``ERROR_TEXT`` (by error code) because domain
messages are English and may carry values, while the page speaks the visitor's language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from puhui.core.clock import SHANGHAI
from puhui.core.errors import PuhuiError
from puhui.core.money import format_fen
from puhui.web import i18n, nav
from puhui.web.i18n import N_
from puhui.web.security import ADMIN, Visitor, set_cookie

TEMPLATES = Path(__file__).parent / "templates"

#: error code → English message id (translated when shown); other codes show the domain text
ERROR_TEXT: dict[str, str] = {
    "login_failed": N_("Phone, password or code is wrong, or the account is temporarily locked."),
    "code_invalid": N_("The code is wrong or has expired."),
    "identity_taken": N_("This phone or ID number already has an account."),
    "password_length": N_("A password has 8 to 128 characters."),
    "password_too_simple": N_("Use at least three of: lower case, upper case, digits, symbols."),
    "password_contains_identifier": N_("The password must not contain your phone or name."),
    "phone_malformed": N_("Enter an 11-digit mainland mobile number."),
    "card_malformed": N_("Enter a bank card number of 16 to 19 digits."),
    "card_check_failed": N_("The card number's check digit is wrong."),
    "name_invalid": N_("A name has 2 to 40 characters."),
    "verification_required": N_("Complete real-name verification first."),
    "reauthentication_failed": N_("The password or the second factor is wrong."),
    "totp_required": N_("Set up an authenticator app before moving money."),
    "totp_invalid": N_("The authenticator code is wrong."),
    "consent_required": N_("Give the consent this step needs first."),
    "rate_limited": N_("Too many attempts; wait a while and try again."),
    "amount_not_a_number": N_("Enter an amount in yuan, such as 100.00."),
    "amount_fractional_fen": N_("An amount has at most two decimals."),
    "amount_must_be_positive": N_("Enter an amount above zero."),
    "maker_checker": N_("The checker must be another person than the maker."),
    "reason_required": N_("State the reason in 5 to 200 characters."),
    "form_incomplete": N_("Fill in the marked fields."),
    "customer_not_found": N_("No such customer."),
    "custody_authorisation_required": N_(
        "Authorise the custody bank (业务授权) for this sub-account first."
    ),
    "authorisation_in_use": N_(
        "This authorisation is still needed: money is frozen or on its way, or a loan is "
        "being repaid under it."
    ),
    "bank_authorisation_invalid": N_("The custody bank did not accept the transaction password."),
}


#: states shown as ``_(value|capitalize)``: customers, KYC, cards, instructions, decisions,
#: reviews, breaks, proposals and data requests
STATE_WORDS = (
    N_("Active"),
    N_("Closed"),
    N_("Unverified"),
    N_("Verified"),
    N_("Failed"),
    N_("Bound"),
    N_("Unbound"),
    N_("Created"),
    N_("Sent"),
    N_("Processing"),
    N_("Queued"),
    N_("Unknown"),
    N_("Succeeded"),
    N_("Approve"),
    N_("Review"),
    N_("Reject"),
    N_("Open"),
    N_("Upheld"),
    N_("Overturned"),
    N_("Resolved"),
    N_("Proposed"),
    N_("Approved"),
    N_("Rejected"),
    N_("Done"),
    N_("Deferred"),
    N_("Restricted"),
    N_("Phone"),
    N_("Name"),
    N_("Id number"),
    N_("Address"),
)


def _when(us: int | None) -> str:
    if us is None:
        return "–"
    moment = datetime.fromtimestamp(us / 1_000_000, tz=UTC).astimezone(SHANGHAI)
    return moment.strftime("%Y-%m-%d %H:%M")


def _yuan(fen: int | None) -> str:
    return "–" if fen is None else format_fen(fen, grouping=True)


def _percent(value: float | Decimal | None, digits: int = 2) -> str:
    return "–" if value is None else f"{float(value) * 100:.{digits}f}%"


def error_text(error: PuhuiError | None) -> str:
    if error is None:
        return ""
    msgid = ERROR_TEXT.get(error.code)
    return i18n.gettext(msgid) if msgid else error.message


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html",)),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(yuan=_yuan, when=_when, percent=_percent)
    env.globals.update(
        error_text=error_text, pick=i18n.pick, languages=i18n.LANGUAGES, csrf_field="csrf_token"
    )
    return env


ENV = _environment()


def page(
    request: Request,
    visitor: Visitor,
    template: str,
    *,
    status: int = 200,
    active: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` in the visitor's language inside the area's layout."""
    lang = i18n.locale_of(request)
    signed_in = visitor.customer is not None or visitor.staff is not None
    permissions = visitor.permissions if visitor.area is ADMIN else None
    with i18n.using(lang):
        html = ENV.get_template(template).render(
            request=request,
            v=visitor,
            lang=lang,
            html_lang=i18n.HTML_LANG[lang],
            area=visitor.area,
            nav_items=nav.items(visitor.area.name, permissions) if signed_in else [],
            active=active,
            signed_in=signed_in,
            **context,
        )
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    if visitor.new_csrf:
        set_cookie(response, visitor.area, visitor.area.csrf_cookie, visitor.csrf)
    return response


def fragment(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A piece of a page for htmx to swap in (no layout)."""
    with i18n.using(i18n.locale_of(request)):
        html = ENV.get_template(template).render(request=request, **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response
