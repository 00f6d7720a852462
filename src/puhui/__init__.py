"""puhui (普惠): an online-lending platform built on a custodial double-entry ledger."""

__version__ = "0.1.0"
