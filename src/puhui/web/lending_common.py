"""What the borrower's and the staff's lending pages share: putting a domain refusal beside the
form field it concerns, the words for lending's states and error codes, and the time in the
microseconds the lending tables keep.

Domain errors name the API's fields (``amount_fen``) or none at all (a contact made in quiet
hours); a page shows every refusal beside a field of its own form, so ``on_field`` renames the
field, or gives a field-less refusal the field whose control it concerns.
"""

from __future__ import annotations

from collections.abc import Mapping

from puhui.core.clock import Clock
from puhui.core.errors import PuhuiError
from puhui.web.i18n import N_
from puhui.web.render import ERROR_TEXT

ERROR_TEXT.update(
    {
        "term_not_offered": N_("This product does not offer that term."),
        "amount_out_of_range": N_("The amount is outside what this product lends."),
        "product_not_found": N_("Choose one of the products shown."),
        "purpose_unknown": N_("Choose one of the purposes shown."),
        "illegal_transition": N_("This cannot be done in the current state; reload the page."),
        "offer_expired": N_("The offer has expired; apply again."),
        "cooling_off_over": N_("The cooling-off period has ended."),
        "payment_declined": N_("The card could not be charged; nothing was taken."),
        "loan_state": N_("This cannot be done in the loan's current state."),
        "prepay_mode_invalid": N_("Choose how to pay."),
        "prepayment_not_allowed": N_("This product does not allow prepayment."),
        "end_of_day_in_progress": N_("The end-of-day batch is closing this loan; try again soon."),
        "maker_checker_same_person": N_(
            "Refused: above the maker-checker amount the checker must be a different person "
            "from the one who recommended."
        ),
        "recommendation_required": N_(
            "Refused: above the maker-checker amount a recommendation must come first."
        ),
        "contact_quiet_hours": N_("Refused: no collection contact between 22:00 and 08:00."),
        "contact_limit_reached": N_("Refused: this loan had the day's maximum of contacts."),
        "third_party_contact_forbidden": N_(
            "Refused: only the borrower may be contacted about the debt (no third parties)."
        ),
        "loan_not_overdue": N_("Refused: the loan is not overdue."),
        "loan_not_assigned_to_you": N_("Refused: the loan is not assigned to you."),
        "not_a_collector": N_("That staff member is not an active collector."),
        "promise_incomplete": N_("A promise to pay has both a date and an amount."),
        "promise_date_past": N_("A promise to pay is dated today or later."),
        "date_invalid": N_("Enter a date as YYYY-MM-DD."),
        "not_in_manual_review": N_("The application is no longer waiting for a review."),
        "no_longer_eligible": N_("The application no longer meets the lending rules."),
        "approved_above_requested": N_("The approved amount cannot exceed the amount asked for."),
        "cancel_after_disbursement": N_("The money is paid out: cancel on the loan's page."),
    }
)

#: lending's states and words shown as ``_(value|capitalize)`` (applications, loans, buckets,
#: installments, transactions, contacts)
STATE_WORDS = (
    N_("Draft"),
    N_("Submitted"),
    N_("Under_review"),
    N_("Manual_review"),
    N_("Offered"),
    N_("Accepted"),
    N_("Declined"),
    N_("Expired"),
    N_("Cancelled"),
    N_("Disbursed"),
    N_("Settled"),
    N_("Written_off"),
    N_("Paid"),
    N_("Overdue"),
    N_("Due"),
    N_("Upcoming"),
    N_("Repayment"),
    N_("Disbursement"),
    N_("Auto_debit"),
    N_("Prepay_full"),
    N_("Prepay_term"),
    N_("Prepay_amount"),
    N_("Cancel"),
    N_("Refund"),
    N_("Reversal"),
    N_("Rollover"),
    N_("Write_off"),
    N_("Pending"),
    N_("Kept"),
    N_("Broken"),
    N_("Running"),
    N_("Normal"),
    N_("Special_mention"),
    N_("Substandard"),
    N_("Doubtful"),
    N_("Loss"),
)


def to_us(clock: Clock) -> int:
    """Now, in the UTC microseconds the lending tables keep."""
    return int(clock.now().timestamp() * 1_000_000)


def on_field(
    error: PuhuiError | None, names: Mapping[str, str], *, default: str
) -> PuhuiError | None:
    """The refusal, named by the page's own field: ``names`` maps the domain's field names to
    the form's; a field the form does not have becomes ``default``. The error is renamed in
    place: it was raised for this one request."""
    if error is None:
        return None
    field = names.get(error.field or "", error.field if error.field in names.values() else None)
    error.field = field or default  # the error was raised for this request alone
    return error
