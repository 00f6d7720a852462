"""Lending: products, repayment schedules, the true annual rate (IRR), and later loans."""
