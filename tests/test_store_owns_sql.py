"""The store owns every SQL statement: outside chatops/store/, no module of the hub, its
commands or its adapters writes SQL (issue 15: one place knows the schema)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL = re.compile(r"\bSELECT\b.*\bFROM\b|\bINSERT (OR \w+ )?INTO\b|\bUPDATE \w+ SET\b|\bDELETE FROM\b"
                 r"|\b(CREATE|DROP) (TABLE|INDEX)\b|\bPRAGMA \w+|^\s*(BEGIN|COMMIT|ROLLBACK)\b"
                 r"|\bWHERE \w+ (=|<|>|IN|IS|LIKE)")    # SQL keywords are written in capitals here


def sql_in(source: str) -> list[str]:
    """The string constants of `source` that are SQL (f-string parts included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value) \
                and not node.value.lstrip().startswith(('"""', "\n")) and len(node.value) < 2000:
            found.append(node.value.strip()[:60])
    return found


def docstrings(source: str) -> set[str]:
    tree = ast.parse(source)
    said = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_docstring(node, clean=False)
            if text:
                said.add(text.strip()[:60])
    return said


def test_no_sql_outside_the_store() -> None:
    offenders = {}
    for folder in ("chatops", "commands", "adapters"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.is_relative_to(ROOT / "chatops" / "store"):
                continue
            source = path.read_text(encoding="utf-8")
            found = [s for s in sql_in(source) if s not in docstrings(source)]
            if found:
                offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}


def test_the_search_finds_sql() -> None:
    """The search above can fail: it sees a statement, an f-string's and a continued one."""
    source = ('db.execute("SELECT id FROM alerts WHERE rule = ?", (r,))\n'
              'db.execute(f"UPDATE x SET a = ? WHERE id IN ({marks})")\n'
              'db.execute("UPDATE deliveries SET next_try = ? "\n           "WHERE alert_id = ?")\n'
              'log.info("selected the best option from the list")\n')
    assert len(sql_in(source)) == 3
    assert sql_in('text = "Delete the timer? Say cancel ID."') == []
