"""Product terms the lending tests share."""

from decimal import Decimal

from puhui.lending.product_terms import ProductTerms

#: A consumer loan of a licensed lender: 3, 6 or 12 months, 8–18%, 1,000–200,000 yuan.
LICENSED = ProductTerms(
    mode="direct",
    method="equal_installment",
    term_unit="month",
    terms=(3, 6, 12),
    min_annual_rate=Decimal("0.08"),
    max_annual_rate=Decimal("0.18"),
    min_amount_fen=100_000,
    max_amount_fen=20_000_000,
    regulatory_profile="licensed_lender",
)
