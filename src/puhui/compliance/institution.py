"""Institution information (机构信息, regulation §3.2) shown on the disclosure page.

It changes rarely and is the operator's to fill in: a TOML file named by
``PUHUI_INSTITUTION_FILE`` replaces the placeholder below key by key. Publication copies it
into the snapshot, so a published report keeps the information it was published with.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from puhui.core.errors import ValidationError

DEFAULT_INSTITUTION: dict[str, Any] = {
    "filing": {
        "record": "备案登记信息（待填写）",
        "icp_licence": "增值电信业务经营许可证（待填写）",
        "custody": "资金存管银行（待填写）",
        "public_security_filing": "公安备案号（待填写）",
    },
    "organisation": {
        "full_name": "普惠网络借贷信息中介平台（示例）",
        "uscc": "",
        "registered_capital_fen": 0,
        "shareholders_5pct": [],
        "officers": [],
        "branches": [],
        "website": "",
        "app": "puhui",
    },
    "audit": {
        "financial_audit": "上一年度财务审计报告（待上传）",
        "compliance_audit": "经营合规重点环节的审计结果（待上传）",
    },
}


def institution(path: str | Path | None = None) -> dict[str, Any]:
    """The institution information: the file's sections over the placeholder."""
    path = path or os.environ.get("PUHUI_INSTITUTION_FILE")
    info = {k: dict(v) for k, v in DEFAULT_INSTITUTION.items()}
    if not path:
        return info
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(
            "institution_unreadable", f"{path}: {exc}", field="institution"
        ) from exc
    for section, values in data.items():
        if isinstance(values, dict):
            info.setdefault(section, {}).update(values)
    return info
