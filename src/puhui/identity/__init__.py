"""Identity: customers and KYC, staff and roles, authentication, personal-data protection and the
tamper-evident audit log (issue 5; regulation.md §7)."""
