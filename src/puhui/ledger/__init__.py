"""The double-entry ledger (TigerBeetle semantics stored in SQL): the single source of truth
for money. See ``service.create_transfers`` for the write path and ``verify`` for the proofs."""
