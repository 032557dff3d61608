"""policies/ stays pure (DESIGN.md): no framework or storage import, no clock reads."""

import ast
from pathlib import Path

import pytest

import policies

FORBIDDEN_ROOTS = {"flask", "sqlalchemy", "redis", "werkzeug", "idp", "flows", "tenants", "keys"}
CLOCK_CALLS = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
    ("time", "time"), ("time", "monotonic"),
}
MODULES = sorted(Path(policies.__file__).parent.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_is_pure(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{path.name} needs a docstring citing its rule"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots = {(node.module or "").split(".")[0]}
        else:
            roots = set()
        assert not roots & FORBIDDEN_ROOTS, f"{path.name} imports {roots & FORBIDDEN_ROOTS}"
        assert not _reads_clock(node), f"{path.name} reads the clock; take `now` as a parameter"


def _reads_clock(node):
    """datetime.now(), date.today(), time.time() and the like."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    owner = node.func.value
    owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
    return (owner_name, node.func.attr) in CLOCK_CALLS
