"""Meta-tests that keep the codebase's conventions true as it grows."""
from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

from smartbot import i18n
from smartbot.audit.events import EVENTS
from smartbot.auth.permissions import ADMIN_AREAS, is_declared
from smartbot.channels import registry
from smartbot.settings.sections import Settings
from tests.support import import_graph, markdown

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


def test_the_admin_page_and_the_api_share_services_not_each_other():
    """api/ and admin/ are two faces over manage/ (and auth/, web/session.py): neither imports the other."""
    assert _offending("admin", [r"^\.\.api(\.|$)"]) == []
    assert _offending("api", [r"^\.\.admin(\.|$)"]) == []
    assert _offending("ops", [r"^\.\.(api|admin)(\.|$)"]) == []


def test_management_and_auth_know_nothing_of_flask_or_the_faces():
    faces = r"^\.\.(api|admin|ops|webchat|web)(\.|$)"
    assert _offending("manage", [r"^flask", faces]) == []
    assert _offending("auth", [r"^flask", faces]) == []


WEB_LAYER = ("api/", "admin/", "webchat/", "web/", "gateway/views.py", "ops/blueprint.py", "mcp/server_blueprint.py")


def test_flask_request_appears_only_in_the_web_layer():
    users = [str(p.relative_to(PACKAGE)) for p in SOURCES
             if re.search(r"from flask import .*\b(request|session|g)\b", p.read_text())]
    assert [u for u in users if not u.startswith(WEB_LAYER)] == []


def test_no_import_cycles_counting_imports_inside_functions():
    """No import cycles among smartbot's modules, counting imports inside functions too: a cycle
    hidden in a function still ties the two modules together, and breaks the day it runs first at
    import time. Break one by moving the piece both need to where it belongs."""
    edges = import_graph.graph(PACKAGE)
    assert len(edges) > 100 and sum(map(len, edges.values())) > 300, "the import scan found too little; it is broken"
    cycles = import_graph.cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


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


def test_every_catalogue_has_every_key_in_the_same_area_file():
    def areas(locale):
        return {path.name: set(json.loads(path.read_text(encoding="utf-8"))) for path in i18n.area_files(locale)}

    english = areas("en")
    assert len(i18n.available()) >= 2 and english
    for locale in i18n.available():
        assert areas(locale) == english, locale
        assert set(i18n.catalogue(locale)) == set().union(*english.values()), locale


def test_no_secrets_or_stubs_in_the_package():
    for path in SOURCES:
        text = path.read_text()
        assert "NotImplementedError" not in text, path
        assert not re.search(r"(api_key|secret|password|token)\s*=\s*[\"'][A-Za-z0-9_\-]{12,}[\"']", text), path


ROOT = PACKAGE.parent
PAGES = sorted([*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md")])


def test_every_markdown_page_closes_its_code_fences():
    assert PAGES, "no markdown pages found; the glob is broken"
    unclosed = {str(p.relative_to(ROOT)): markdown.unclosed_fence(p.read_text()) for p in PAGES}
    assert {page: line for page, line in unclosed.items() if line} == {}


def test_every_link_in_the_docs_stays_in_the_repository_and_finds_its_file():
    bad, seen = [], 0
    for page in PAGES:
        for line, target in markdown.links(page.read_text()):
            seen += 1
            problem = markdown.link_problem(page, target, ROOT)
            if problem:
                bad.append(f"{page.relative_to(ROOT)}:{line}: {target} {problem}")
    assert seen, "the scan found no links at all; the pattern is broken"
    assert bad == []


def test_every_setting_is_in_the_configuration_page_with_its_default():
    page = markdown.sections((ROOT / "docs" / "configuration.md").read_text())
    problems = []

    def check(title: str, cls: type) -> None:
        if title not in page:
            problems.append(f"no section {title!r}")
            return
        rows = markdown.table_rows(page[title])
        keys, _ = markdown.settings_fields(cls)
        for field in keys:
            if field.name not in rows:
                problems.append(f"{title}: {field.name} is not documented")
                continue
            shown = markdown.shown_default(field)
            written = rows[field.name][0].replace("`", "").split(" (")[0]
            retired = "retired" in " ".join(rows[field.name])
            if shown is not None and written != shown and not retired:
                problems.append(f"{title}: {field.name} defaults to {shown}, the page says {written}")
        names = {field.name for field in keys}
        problems.extend(f"{title}: {key} is documented but is no setting" for key, cells in rows.items()
                        if key not in names and "retired" not in " ".join(cells))

    top_keys, sections = markdown.settings_fields(Settings)
    assert len(top_keys) > 5 and len(sections) > 10, "the settings walk found too little; it is broken"
    check("Top-level keys", Settings)
    for heading, cls in sections.values():
        check(heading, cls)
    assert problems == []


def test_every_channel_setting_is_in_the_channels_page():
    page = markdown.sections((ROOT / "docs" / "channels.md").read_text())
    by_name = {re.sub(r"\W", "", title.lower()): text for title, text in page.items()}
    missing = []
    for name in registry.names():
        text = next((t for title, t in by_name.items() if title.startswith(name)), None)
        fields = dataclasses.fields(registry.spec(name).config_class)
        missing += [f"{name}: no section"] if text is None else \
            [f"{name}: {f.name}" for f in fields if f"`{f.name}`" not in text]
    assert missing == []


# The layers, lowest first. A module may import modules of its own layer or of a lower one, never
# of a higher one (docs/architecture.md draws them). Entries are packages or modules; the most
# specific entry a module falls under decides its layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("errors", "messages", "httputil", "version", "i18n", "telemetry", "settings.schema")),
    ("storage", ("storage",)),
    ("audit", ("audit",)),
    ("libraries", ("channels", "llm", "executor", "auth", "mcp", "router.engine", "assistant.routes")),
    ("settings", ("settings", "ops.settings", "workflows.settings", "mcp.server_settings", "knowledge.settings")),
    ("services", ("gateway", "router", "assistant", "jobs", "knowledge")),
    ("pipeline", ("pipeline", "workflows")),
    ("management", ("manage", "ops", "settings.provisioning", "settings.checks", "mcp.server", "mcp.server_tools",
                    "mcp.server_sessions")),
    ("faces", ("web", "admin", "api", "webchat", "gateway.views", "ops.blueprint", "ops.access", "server",
               "runtime", "cli", "wsgi", "mcp.server_blueprint", "")),
]


def _layer_of(module: str) -> tuple[int, str]:
    """(layer index, layer name) of a dotted module name below `smartbot`."""
    best, found = -1, (len(LAYERS), "unknown")
    for index, (layer, members) in enumerate(LAYERS):
        for member in members:
            if (module == member or module.startswith(member + ".") or member == "") and len(member) > best:
                best, found = len(member), (index, layer)
    return found


def test_imports_go_down_the_layers_never_up():
    edges = import_graph.graph(PACKAGE)
    upward = []
    for module, imported in edges.items():
        here = _layer_of(module.removeprefix("smartbot").lstrip("."))
        for target in imported:
            there = _layer_of(target.removeprefix("smartbot").lstrip("."))
            if there[0] > here[0]:
                upward.append(f"{module} ({here[1]}) imports {target} ({there[1]})")
    assert upward == [], "imports that go up a layer:\n" + "\n".join(sorted(upward))
