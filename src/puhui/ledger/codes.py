"""Books, account codes, transfer codes and flags.

The codes are stable integers because they are stored in every row and reported to the
custody bank; names are for people.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag, StrEnum


class Book(StrEnum):
    #: User funds held at the custody bank (资金存管): one sub-account per user and role.
    CUSTODY = "custody"
    #: The lender's own general ledger: receivables, income, provisions, own cash.
    COMPANY = "company"


class AccountCode(IntEnum):
    # custody book ----------------------------------------------------------------------
    CUSTODY_MASTER = 100  # 存管专用账户: user money as the bank holds it (an asset, debit-normal)
    LENDER = 200  # 出借人子账户
    BORROWER = 210  # 借款人子账户
    GUARANTOR = 220  # 担保人子账户
    PLATFORM_FEE = 300  # platform fee sub-account, until swept to own funds
    RISK_RESERVE = 310  # 风险备付金
    SETTLEMENT = 320  # in-flight clearing between instructions
    PLATFORM_MARKETING = 330  # the platform's own marketing money (红包, 加息券), ops
    RECON_SUSPENSE = 390  # 对账挂账: where approved break adjustments land
    # company book ----------------------------------------------------------------------
    COMPANY_CASH = 1000  # 自有资金账户 at the bank
    LOANS_RECEIVABLE = 1100
    INTEREST_RECEIVABLE = 1110
    FEES_RECEIVABLE = 1120
    PENALTY_RECEIVABLE = 1130  # 罚息 and late fees charged, not yet paid
    CREDIT_LINE_RECEIVABLE = 1140  # 消费信贷: credit-line principal owed
    CREDIT_LINE_INTEREST_RECEIVABLE = 1141
    CREDIT_LINE_FEES_RECEIVABLE = 1142  # instalment (分期) fees billed
    CREDIT_LINE_PENALTY_RECEIVABLE = 1143
    LOAN_LOSS_PROVISION = 1190
    MARKETING_FUNDS = 1200  # own money placed in the custody marketing sub-account (ops)
    BORROWER_CREDIT_BALANCES = 2100  # 溢缴款: borrowers' overpayments we owe back or apply
    EQUITY = 3000
    INTEREST_INCOME = 4000
    FEE_INCOME = 4010
    PENALTY_INCOME = 4020
    RECOVERY_INCOME = 4030  # 核销后收回
    PROVISION_EXPENSE = 5000
    MARKETING_EXPENSE = 5100  # coupons paid to investors (ops)


#: Codes whose accounts hold a user's money in the custody book (CUS-ACC-01).
USER_SUB_ACCOUNT_CODES = frozenset(
    {AccountCode.LENDER, AccountCode.BORROWER, AccountCode.GUARANTOR}
)


class TransferCode(IntEnum):
    DEPOSIT = 1  # 充值
    WITHDRAWAL = 2  # 提现
    INVESTMENT = 10  # 出借 (bid, frozen then posted)
    DISBURSEMENT = 11  # 放款
    REPAYMENT = 20  # 还款
    DISTRIBUTION = 21  # 回款 to lenders
    FEE = 30  # 平台服务费 (CUS-ACC-02)
    FEE_SWEEP = 31  # fee sub-account → own funds
    RISK_RESERVE = 32
    COMPENSATION = 33  # 代偿
    MARKETING_REWARD = 34  # 红包/加息券 paid from the marketing sub-account (ops)
    MARKETING_FUNDING = 35  # own funds into the marketing sub-account (ops)
    CLAIM_TRANSFER = 40  # 债权转让
    CAPITAL = 50  # 注资: the company funds its own cash from equity
    INTEREST_ACCRUAL = 51  # 计提利息 (aggregated per end-of-day run)
    PENALTY_ACCRUAL = 52  # 罚息/滞纳金
    PROVISION = 53  # 拨备
    WRITE_OFF = 54  # 核销
    RECOVERY = 55  # 核销后收回
    LOAN_ADJUSTMENT = 56  # a backdated replay's difference
    REFUND = 57  # overpayment paid back to the borrower
    RECON_ADJUSTMENT = 90  # approved correction of a reconciliation break
    INTERNAL = 99  # company-book journal (accrual, provision, ...)


class AccountFlags(IntFlag):
    NONE = 0
    #: A credit-normal account (a user's balance): can never go below zero.
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    #: A debit-normal account (cash at the bank): can never go below zero.
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2


class TransferFlags(IntFlag):
    NONE = 0
    LINKED = 1
    PENDING = 2
    POST_PENDING = 4
    VOID_PENDING = 8
    BALANCING_DEBIT = 16
    BALANCING_CREDIT = 32


class Result(StrEnum):
    """Per-transfer result codes, in the manner of TigerBeetle's CreateTransferResult."""

    OK = "ok"
    EXISTS = "exists"
    EXISTS_WITH_DIFFERENT_FIELDS = "exists_with_different_fields"
    LINKED_EVENT_FAILED = "linked_event_failed"
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"
    ID_MUST_NOT_BE_EMPTY = "id_must_not_be_empty"
    ID_TOO_LONG = "id_too_long"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    ACCOUNT_NOT_FOUND = "account_not_found"
    BOOKS_DIFFER = "books_differ"
    CURRENCIES_DIFFER = "currencies_differ"
    AMOUNT_MUST_BE_INTEGER = "amount_must_be_integer"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    CODE_MUST_NOT_BE_ZERO = "code_must_not_be_zero"
    TIMEOUT_RESERVED_FOR_PENDING_TRANSFER = "timeout_reserved_for_pending_transfer"
    TIMEOUT_MUST_NOT_BE_NEGATIVE = "timeout_must_not_be_negative"
    PENDING_ID_MUST_BE_EMPTY = "pending_id_must_be_empty"
    PENDING_ID_REQUIRED = "pending_id_required"
    PENDING_ID_MUST_BE_DIFFERENT = "pending_id_must_be_different"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS = "pending_transfer_has_different_accounts"
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = "pending_transfer_has_different_amount"
    EXCEEDS_PENDING_TRANSFER_AMOUNT = "exceeds_pending_transfer_amount"
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    PENDING_TRANSFER_EXPIRED = "pending_transfer_expired"
    EXCEEDS_CREDITS = "exceeds_credits"
    EXCEEDS_DEBITS = "exceeds_debits"
    OVERFLOWS_DEBITS = "overflows_debits"
    OVERFLOWS_CREDITS = "overflows_credits"


MESSAGES: dict[Result, str] = {
    Result.OK: "applied",
    Result.EXISTS: "already applied with the same fields; nothing applied again",
    Result.EXISTS_WITH_DIFFERENT_FIELDS: "a transfer with this id exists with other fields",
    Result.LINKED_EVENT_FAILED: "another transfer in its linked chain failed",
    Result.LINKED_EVENT_CHAIN_OPEN: "the last transfer of the batch is linked to nothing",
    Result.ID_MUST_NOT_BE_EMPTY: "transfer id must not be empty",
    Result.ID_TOO_LONG: "transfer id must be at most 64 characters",
    Result.FLAGS_ARE_MUTUALLY_EXCLUSIVE: "pending, post, void and balancing flags conflict",
    Result.ACCOUNTS_MUST_BE_DIFFERENT: "debit and credit account must be different",
    Result.ACCOUNT_NOT_FOUND: "account not found",
    Result.BOOKS_DIFFER: "both accounts must be in the same book",
    Result.CURRENCIES_DIFFER: "both accounts must have the same currency",
    Result.AMOUNT_MUST_BE_INTEGER: "amount must be a whole number of fen",
    Result.AMOUNT_MUST_BE_POSITIVE: "amount must be greater than zero",
    Result.CODE_MUST_NOT_BE_ZERO: "transfer code must not be zero",
    Result.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER: "only a pending transfer may have a timeout",
    Result.TIMEOUT_MUST_NOT_BE_NEGATIVE: "timeout must not be negative",
    Result.PENDING_ID_MUST_BE_EMPTY: "only a post or void names a pending transfer",
    Result.PENDING_ID_REQUIRED: "post and void must name the pending transfer",
    Result.PENDING_ID_MUST_BE_DIFFERENT: "a transfer cannot post or void itself",
    Result.PENDING_TRANSFER_NOT_FOUND: "pending transfer not found",
    Result.PENDING_TRANSFER_NOT_PENDING: "the named transfer is not a pending transfer",
    Result.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS: "accounts differ from the pending transfer",
    Result.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT: "a void must release the whole pending amount",
    Result.EXCEEDS_PENDING_TRANSFER_AMOUNT: "amount exceeds the pending amount",
    Result.PENDING_TRANSFER_ALREADY_POSTED: "pending transfer was already posted",
    Result.PENDING_TRANSFER_ALREADY_VOIDED: "pending transfer was already voided",
    Result.PENDING_TRANSFER_EXPIRED: "pending transfer has expired",
    Result.EXCEEDS_CREDITS: "debit would exceed the account's credits (insufficient balance)",
    Result.EXCEEDS_DEBITS: "credit would exceed the account's debits",
    Result.OVERFLOWS_DEBITS: "debits would overflow",
    Result.OVERFLOWS_CREDITS: "credits would overflow",
}
