"""The open platform (开放平台): partners, their keys and signed requests, and webhooks.

See docs/openplatform.md for the design and the partner's side of the protocol.
"""
