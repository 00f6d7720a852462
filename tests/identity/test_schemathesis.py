"""Property-based requests from the OpenAPI document: no input makes the server fail (5xx).

Bounded on purpose (a few examples per operation) so the suite stays fast; requests carry a
customer's and a staff member's tokens so the checks reach past authentication. Each operation's
strategy is driven by Hypothesis directly (schemathesis's pytest plugin relies on pytest
internals that pytest 9 no longer has).
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from .conftest import ALICE


def test_no_server_error_anywhere_in_the_openapi_document(platform):
    _, customer = platform.onboard(ALICE)
    _, staff = platform.staff(
        "fuzz.admin",
        org_unit="wealth",
        role_codes=("system_admin", "compliance_officer", "risk_officer", "team_manager"),
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", platform.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:
        if operation.path.endswith("/logout"):
            continue  # would end the sessions the other operations use

        @given(case=operation.as_strategy())
        @settings(
            max_examples=3,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            headers = staff if case.path.startswith("/admin/") else customer
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        check()
