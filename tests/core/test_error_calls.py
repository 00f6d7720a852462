"""puhui's errors take ``field`` by keyword only; a third positional argument is a TypeError at
the moment the error should have been a clear 4xx. Four slipped in once, so every call in the
source is checked here rather than waiting for the refusal path to run."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import puhui
from puhui.core import errors

SRC = Path(puhui.__file__).parent
ERRORS = {
    name
    for name, obj in vars(errors).items()
    if inspect.isclass(obj) and issubclass(obj, errors.PuhuiError)
}


def test_no_error_is_given_its_field_positionally() -> None:
    assert {"ValidationError", "NotFound", "Conflict"} <= ERRORS
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = getattr(f, "id", None) or getattr(f, "attr", "")
            if name in ERRORS and len(node.args) > 2:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    assert found == []
