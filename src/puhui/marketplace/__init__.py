"""Lending marketplace (网络借贷信息中介): listings, bids, notes, distribution."""
