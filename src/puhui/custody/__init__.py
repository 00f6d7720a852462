"""资金存管: user funds at the custody bank, moved only on the user's instruction (CUS-*).

``bank`` is the custody-bank interface and ``sandbox`` a bank behind it with its own tables;
``service`` holds the platform's one-transaction steps, ``flows`` the multi-step work that must
commit around a bank call, ``reconcile`` and ``breaks`` the daily reconciliation (CUS-REC-01).
"""
