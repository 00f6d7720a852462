"""The custody-bank interface (存管人): what the platform may ask of the bank, and its answers.

Only the bank moves money (CUS-INS-02). The platform sends instructions, each with an id it
chooses and the user's own authorisation (CUS-INS-01), and learns the outcome later: a reply is
usually ``processing`` and the result comes from ``query``. A call may also time out, in which
case the platform cannot know whether the bank received it; sending the same instruction id
again is always safe, because a bank applies one id once and answers a replay with the original
result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Protocol

from puhui.custody.statement import Statement


class InstructionKind(StrEnum):
    DEPOSIT = "deposit"  # 充值: money from the user's bank card into the sub-account
    WITHDRAWAL = "withdrawal"  # 提现: money from the sub-account to the user's bank card
    TRANSFER = "transfer"  # between two sub-accounts (investment, repayment, fee, ...)


class AuthMethod(StrEnum):
    PASSWORD = "password"  # 交易密码, set by the user at the bank
    OTP = "otp"  # one-time code the bank sent to the user's phone
    #: 业务授权: the id of a standing authorisation the holder granted the bank earlier with a
    #: password or code. The platform sends it with instructions it makes on its own initiative
    #: under that grant (a bid posting at full funding, a repayment distributed to lenders).
    STANDING = "standing"


class BankStatus(StrEnum):
    PROCESSING = "processing"  # accepted, result to follow
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # accepted, then declined by the bank (final)
    REFUSED = "refused"  # not accepted at all: bad authorisation, unknown account, ... (final)
    NOT_FOUND = "not_found"  # the bank never received this id, and now never will

    @property
    def final(self) -> bool:
        return self is not BankStatus.PROCESSING


@dataclass(frozen=True)
class Authorisation:
    """What the user typed into the bank's page or SDK; the platform only passes it through."""

    method: AuthMethod
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Instruction:
    """One money movement the user authorised.

    ``from_account`` is empty for a deposit and ``to_account`` for a withdrawal; the holder of
    the account that pays (the receiving one for a deposit) is the one who authorises.
    """

    instruction_id: str
    kind: InstructionKind
    amount: int
    from_account: str | None = None
    to_account: str | None = None
    authorisation: Authorisation | None = None

    @property
    def authorising_account(self) -> str | None:
        if self.kind is InstructionKind.DEPOSIT:
            return self.to_account
        return self.from_account


@dataclass(frozen=True)
class BankReply:
    instruction_id: str
    status: BankStatus
    serial: str | None = None  # the bank's own serial number, once money moved
    reason: str | None = None  # why it failed or was refused


class BankTimeout(Exception):
    """No answer in time: the instruction may or may not have reached the bank."""


class CustodyBank(Protocol):
    """A custody bank as the platform sees it (a real adapter or the sandbox)."""

    def master_account(self) -> str:
        """The number of the custody master account (网络借贷资金存管专用账户)."""
        ...

    def open_sub_account(self, *, user_ref: str, role: str) -> str:
        """Open (or find) the sub-account of one user in one role; return its number."""
        ...

    def deposit(self, instruction: Instruction) -> BankReply: ...

    def withdraw(self, instruction: Instruction) -> BankReply: ...

    def transfer(self, instruction: Instruction) -> BankReply: ...

    def authorise(self, account: str, authorisation: Authorisation, *, scope: str) -> BankReply:
        """业务授权: the holder of ``account`` (by password or code) lets the platform instruct
        transfers out of it for ``scope``; a ``succeeded`` reply's id is the grant's id."""
        ...

    def revoke_authorisation(self, grant_id: str) -> BankReply:
        """Withdraw a standing authorisation; instructions sent under it afterwards are refused."""
        ...

    def query(self, instruction_id: str) -> BankReply:
        """The current status of an instruction; ``not_found`` means it can never apply."""
        ...

    def statement(self, *, business_date: date) -> Statement:
        """The day's account statement of the master account, line by line."""
        ...
