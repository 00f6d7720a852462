"""Real-name verification through an interface, and a sandbox four-element verifier.

Real verifiers (a bank-card "四要素" service) answer whether a name, an ID number, a card and
the phone reserved at the bank belong together; ``SandboxVerifier`` answers the same way from
records a test or demo registers, and accepts any well-formed set it has no record of unless
``strict``. Nothing raw is stored: only the outcome and a keyed digest of the elements checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from puhui.core.errors import ValidationError
from puhui.identity.identifiers import luhn_ok, parse_resident_id


@dataclass(frozen=True, repr=False)
class FourElements:
    name: str
    id_number: str
    card_number: str
    phone: str

    def __repr__(self) -> str:  # personal values never reach a log through a repr
        return "FourElements(…)"


@dataclass(frozen=True)
class Outcome:
    passed: bool
    reason: str  # match | name_mismatch | id_mismatch | phone_mismatch | card_invalid | id_invalid


class Verifier(Protocol):
    name: str

    def verify(self, elements: FourElements, *, today: date) -> Outcome: ...


@dataclass
class SandboxVerifier:
    name: str = "sandbox"
    strict: bool = False
    #: card number → (name, id number, reserved phone)
    records: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def register(self, elements: FourElements) -> None:
        self.records[elements.card_number] = (elements.name, elements.id_number, elements.phone)

    def verify(self, elements: FourElements, *, today: date) -> Outcome:
        try:
            parse_resident_id(elements.id_number, today=today)
        except ValidationError:
            return Outcome(False, "id_invalid")
        if not luhn_ok(elements.card_number):
            return Outcome(False, "card_invalid")
        known = self.records.get(elements.card_number)
        if known is None:
            return Outcome(not self.strict, "match" if not self.strict else "card_unknown")
        name, id_number, phone = known
        for ok, reason in (
            (name == elements.name, "name_mismatch"),
            (id_number == elements.id_number, "id_mismatch"),
            (phone == elements.phone, "phone_mismatch"),
        ):
            if not ok:
                return Outcome(False, reason)
        return Outcome(True, "match")
