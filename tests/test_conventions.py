"""Meta-tests that keep the codebase's conventions true as it grows."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from smartbot import i18n
from smartbot.audit.events import EVENTS
from smartbot.auth.permissions import ADMIN_AREAS, is_declared

PACKAGE = Path(__file__).resolve().parent.parent / "smartbot"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            joiner = "" if base.endswith(".") else "."
            names.update(base + joiner + a.name for a in node.names)
    return names


def _offending(folder: str, forbidden: list[str]) -> list[str]:
    bad = []
    for path in (PACKAGE / folder).rglob("*.py"):
        for name in _imports(path):
            if any(re.search(pattern, name) for pattern in forbidden):
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    return bad


def test_every_module_says_what_it_is_for():
    missing = [str(p.relative_to(PACKAGE)) for p in SOURCES if ast.get_docstring(ast.parse(p.read_text())) is None]
    assert missing == []


def test_channels_only_translate():
    assert _offending("channels", [r"router", r"\bllm\b", r"executor", r"\.auth", r"^flask", r"pipeline"]) == []


def test_llm_knows_nothing_of_flask_channels_or_the_router():
    assert _offending("llm", [r"^flask", r"channels", r"router", r"\.db\b", r"models", r"pipeline"]) == []


def test_audit_imports_no_other_layer():
    assert _offending("audit", [r"gateway", r"channels", r"router", r"llm", r"pipeline", r"auth", r"^flask"]) == []


WEB_LAYER = ("api/", "admin/", "webchat/", "gateway/views.py", "ops/blueprint.py", "web_app.py", "web.py",
             "web_security.py")


def test_flask_request_appears_only_in_the_web_layer():
    users = [str(p.relative_to(PACKAGE)) for p in SOURCES
             if re.search(r"from flask import .*\b(request|session|g)\b", p.read_text())]
    assert [u for u in users if not u.startswith(WEB_LAYER)] == []


def test_every_audit_event_used_is_registered():
    used = set()
    for path in SOURCES:
        text = path.read_text()
        used.update(re.findall(r'AuditEvent\(\s*"([a-z_.]+)"', text))
        used.update(re.findall(r'audit\.record\(\s*conn,\s*"([a-z_.]+)"', text))
    assert used, "the scan found no audit events; the pattern is broken"
    assert sorted(used - set(EVENTS)) == []


def test_every_permission_checked_is_declared():
    checked = set()
    for path in SOURCES:
        checked.update(re.findall(r'rbac\.(?:check|require)\([^,]+,\s*"([^"]+)"', path.read_text()))
    assert checked, "the scan found no permission checks; the pattern is broken"
    assert [p for p in sorted(checked) if not is_declared(p)] == []


def test_every_admin_area_is_documented_in_the_security_model():
    security = (PACKAGE.parent / "docs" / "security.md").read_text()
    documented = set(re.findall(r"^\| `admin:([a-z_]+)` \|", security, re.M))
    assert documented == set(ADMIN_AREAS)


def test_every_catalogue_has_every_key():
    english = set(i18n.catalogue("en"))
    for locale in i18n.available():
        assert set(i18n.catalogue(locale)) == english, locale


def test_no_secrets_or_stubs_in_the_package():
    for path in SOURCES:
        text = path.read_text()
        assert "NotImplementedError" not in text, path
        assert not re.search(r"(api_key|secret|password|token)\s*=\s*[\"'][A-Za-z0-9_\-]{12,}[\"']", text), path
