"""HTTP interface (FastAPI): the app factory, error shape, observability, pagination and
idempotency that every router builds on. Domain routers are mounted in ``app.create_app``."""
