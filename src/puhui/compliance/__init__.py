"""Compliance: regulatory rate caps (later suitability, disclosure, AML, the regulator feed)."""
