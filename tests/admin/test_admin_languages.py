"""Every text of the admin page comes from the catalogues, so every page reads in Chinese.

Two checks. The templates carry no words of their own (everything a person reads is `t(...)`).
And every page the navigation leads to, rendered in zh-CN for an admin with a little of
everything in the database, shows no English word but:
- what people typed or platforms sent (names of users, roles, rules, commands, workflows,
  providers, chats; audit actors and targets): read from the database, not listed here;
- code: text in <code>, <pre> and <textarea> (JSON, YAML, commands, patterns), and what the page
  marks as content not to translate (`translate="no"`: the messages of a conversation);
- technical tokens: anything with a digit or one of . : / _ - * < > = @ in it (a URL, a
  permission pattern, an identity), and acronyms in capitals (API, JSON, UTC);
- ALLOWED below, each with its reason.
Screenshots of every page, in both languages, go to tests/screenshots/.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from smartbot import i18n
from smartbot.auth.permissions import PERMISSIONS
from smartbot.channels import registry
from tests.support.admin_page import AdminPage
from tests.support.admin_site import PASSWORD, AdminSite, Visitor
from tests.support.browser import launched, screenshot
from tests.support.executor import add_command, bind, script
from tests.support.waiting import wait_until
from tests.support.workflows import wait_run

TEMPLATES = Path(__file__).resolve().parents[2] / "smartbot" / "templates" / "admin"
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.:/@*<>=\-]*")
TECHNICAL = re.compile(r"[0-9_.:/@*<>=\-]")
ALLOWED = {
    "SmartBot", "OpenAI", "Anthropic", "Ollama",       # product names
    "Cron",                                            # the name of the syntax, used as is in Chinese
    "MiB",                                             # a unit
    "Token", "token", "Webhook",                       # terms Chinese software uses as they are
    "en",                                              # the language switch names each language by its code
    *registry.names(),                                 # channel names are configuration keys (webchat, slack)
}
CODE_TAGS = {"code", "pre", "textarea", "script", "style"}
READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")


def english_words(texts: list[str], data: set[str]) -> list[str]:
    """The words in `texts` a person would read as English."""
    return [w for text in texts for w in WORD.findall(text)
            if not TECHNICAL.search(w) and not w.isupper() and w not in ALLOWED and w not in data]


class _TemplateText(HTMLParser):
    """Text a template writes itself: text nodes outside code, and the attributes people read."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in CODE_TAGS:
            self._code += 1
        self.found += [value for name, value in attrs if name in READ_ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in CODE_TAGS:
            self._code -= 1

    def handle_data(self, data: str) -> None:
        if not self._code:
            self.found.append(data)


def _without_jinja(source: str) -> str:
    source = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    return re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", source, flags=re.S)


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_every_string_in_an_admin_template_comes_from_the_catalogues(template):
    parser = _TemplateText()
    parser.feed(_without_jinja((TEMPLATES / template).read_text()))
    assert english_words(parser.found, set()) == []


def test_every_permission_reads_in_every_language_as_declared():
    """The roles page explains each permission from the catalogues; the English one says what
    auth/permissions.py declares, so the page and GET /api/v1/permissions agree."""
    for name, text in PERMISSIONS.items():
        assert i18n.catalogue("en")[f"admin.permission_text.{name}"] == text
        assert f"admin.permission_text.{name}" in i18n.catalogue("zh-CN")


def test_every_starter_command_and_role_template_reads_in_every_language(db):
    """What SmartBot ships in the database (starter commands, role templates) is shown from the
    catalogues by name; the English entry is the shipped text, so a page knows it is untouched."""
    with db.read() as conn:
        starters = conn.execute(sa.text("SELECT name, description FROM commands WHERE source = 'default'")).all()
        templates = conn.execute(sa.text("SELECT name, description FROM roles WHERE is_template")).all()
    assert starters and templates
    for prefix, rows in (("admin.starter.", starters), ("admin.role_template.", templates)):
        for name, description in rows:
            assert i18n.catalogue("en")[prefix + name] == description
            assert prefix + name in i18n.catalogue("zh-CN")


VISIBLE_TEXT = """() => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  const skip = new Set(["CODE", "PRE", "TEXTAREA", "SCRIPT", "STYLE"]);
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    let el = walker.currentNode.parentElement, code = false;
    for (; el; el = el.parentElement) {
      if (skip.has(el.tagName) || el.getAttribute("translate") === "no") { code = true; break; }
    }
    if (!code && walker.currentNode.textContent.trim()) { out.push(walker.currentNode.textContent.trim()); }
  }
  for (const name of ["title", "placeholder", "aria-label", "alt"]) {
    document.querySelectorAll("[" + name + "]").forEach(e => out.push(e.getAttribute(name)));
  }
  return out;
}"""

DATA_QUERIES = [
    "SELECT name, display_name FROM users", "SELECT name, description FROM roles WHERE NOT is_template",
    "SELECT name FROM roles", "SELECT name FROM rules", "SELECT name FROM commands", "SELECT name FROM workflows",
    "SELECT name, model FROM providers", "SELECT platform_user_id, display_name FROM identities",
    "SELECT DISTINCT actor, target FROM audit_log", "SELECT order_key FROM inbox",
]


def _data_words(db) -> set[str]:
    """Every word of the names and ids in the database: what people typed or platforms sent."""
    words: set[str] = set()
    with db.read() as conn:
        for query in DATA_QUERIES:
            for row in conn.execute(sa.text(query)):
                for value in row:
                    words |= set(WORD.findall(str(value or "")))
    return words


def _scene(site: AdminSite) -> None:
    """A little of everything: a web chat visitor nobody has bound, a chat user bound to a user, a
    request waiting for an approval, a workflow run from the page and a schedule."""
    Visitor(site).say("第二行\n第三行")
    bind(site.db, "u-1", "li", ["user"])
    assert site.app.post_generic({"event_id": "e1", "chat_id": "c1", "user_id": "u-1", "text": "/help"}).ok
    add_command(site.db, "deploy", [script("import sys; print('deployed', sys.argv[1])"), "{version}"],
                [{"name": "version", "type": "regex", "pattern": r"v[0-9]{1,3}"}], needs_approval=True)
    bind(site.db, "usr", "uma", ["operator"])
    assert site.app.post_generic({"event_id": "e2", "chat_id": "dev", "user_id": "usr", "text": "/deploy v7"}).ok
    assert wait_until(lambda: _count(site.db, "approvals") == 1, 15)
    page = AdminPage(site.url, "root", PASSWORD)
    page.post("/admin/workflows", {"yaml": "name: daily-check\ndescription: 每日巡检\nsteps:\n"
                                           "  - {name: first, kind: command, command: uptime}\n"
                                           "  - {name: tell, kind: message, text: \"{{ steps.first.output }}\"}\n"})
    page.post("/admin/workflows/daily-check/run", {"args": "", "chat": ""})
    page.post("/admin/schedules", {"workflow": "daily-check", "cron": "0 6 * * *", "owner": "", "chat": "", "args": ""})
    wait_run(site.db, 1)


def _count(db, table: str) -> int:
    with db.read() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def _pages(page, url: str) -> list[str]:
    """The pages the navigation leads to, and the pages one click deeper that only exist with data."""
    page.goto(url + "/admin/")
    links = [urlparse(a).path for a in page.eval_on_selector_all("header nav a", "els => els.map(e => e.href)")]
    page.goto(url + "/admin/conversations")
    deeper = page.eval_on_selector_all("#conversations a", "els => els.map(e => e.getAttribute('href'))")[:1]
    return links + deeper + ["/admin/workflows/runs/1", "/admin/login"]


def test_every_admin_page_in_chinese_has_no_english_left(gunicorn_app, make_config, fake_model):
    site = AdminSite(gunicorn_app(make_config(model=fake_model, approvals={"notify": ["generic:ops"]})))
    try:
        _scene(site)
        data = _data_words(site.db)
        with launched() as browser:
            leftovers = {}
            for lang in ("en", "zh-CN"):
                page = site.log_in(browser, lang)
                pages = _pages(page, site.url)
                assert len(pages) >= 12, pages
                for path in pages:
                    page.goto(site.url + path)
                    name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:60]
                    screenshot(page, f"{name}-{lang}")
                    if lang == "zh-CN":
                        found = english_words(page.evaluate(VISIBLE_TEXT), data)
                        if found:
                            leftovers[path] = sorted(set(found))
                page.close()
        assert leftovers == {}, leftovers
    finally:
        site.close()
