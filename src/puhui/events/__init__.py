"""Domain events through a transactional outbox (DESIGN.md, Interfaces).

``emit`` writes an event in the caller's transaction, so an event exists exactly when the change
it describes committed; ``dispatcher.dispatch`` hands committed events to subscribers, in order
per key, at least once.
"""

from puhui.events.outbox import (
    TOPICS,
    Event,
    application_key,
    creditline_key,
    emit,
    emit_many,
    loan_key,
)

__all__ = [
    "TOPICS",
    "Event",
    "application_key",
    "creditline_key",
    "emit",
    "emit_many",
    "loan_key",
]
