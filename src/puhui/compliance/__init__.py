"""Compliance: rate caps, related parties and banned phrases, the monthly disclosure and its
publication, major events, regulatory checks and alerts, AML, the regulator feed
(docs/compliance.md)."""
