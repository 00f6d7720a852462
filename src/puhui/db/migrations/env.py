"""Alembic environment: runs against the engine puhui hands over in ``config.attributes``."""

import importlib

from alembic import context

from puhui.db.engine import make_engine
from puhui.db.metadata import metadata

# Domain table modules, so that ``alembic revision --autogenerate`` sees every table.
for _module in (
    "puhui.ledger.models",
    "puhui.api.models",
    "puhui.custody.models",
    "puhui.custody.sandbox_models",
    "puhui.lending.models",
    "puhui.lending.eod_models",
    "puhui.lending.collection_models",
    "puhui.identity.models",
    "puhui.credit.models",
    "puhui.events.models",
    "puhui.openplatform.models",
    "puhui.ops.models",
    "puhui.compliance.models",
    "puhui.marketplace.models",
    "puhui.lending.credit_line.models",
    "puhui.tasks.models",
):
    importlib.import_module(_module)

config = context.config
engine = config.attributes.get("engine") or make_engine()

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
