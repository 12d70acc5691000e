"""Providers on the admin page: a lone provider is the default (in the service, so the API says so
too), and the new-provider form's kind and its suggestions agree."""
from __future__ import annotations

import re

import pytest

from smartbot.llm.providers import KINDS
from smartbot.manage.providers import KIND_EXAMPLES
from tests.support.admin_page import PASSWORD, admin_of
from tests.support.api_client import login



@pytest.fixture
def site(live_app, make_config):
    app = live_app(make_config())
    return app, admin_of(app)


def test_a_lone_provider_is_the_default_for_the_api_and_the_page(site, fake_model):
    app, page = site
    api = login(app.url, "root", PASSWORD)
    assert api.get("/models/active").json()["default"] == ""
    made = api.post("/providers", {"name": "only", "kind": "openai", "base_url": fake_model.base_url,
                                   "model": "m-1"})
    assert made.status_code == 201, made.text
    assert api.get("/models/active").json() == {"default": "only", "fallback": [], "chain": ["only"]}
    row = page.get("/admin/providers").text
    row = row[row.index('id="provider-only"'):]
    assert "(default)" in row[:row.index("</tr>")] and "make-default" not in row[:row.index("</tr>")]
    api.post("/providers", {"name": "second", "kind": "openai", "base_url": fake_model.base_url, "model": "m-2"})
    assert api.get("/models/active").json()["default"] == "only"          # still the first, until switched
    assert api.put("/models/active", {"default": "second"}).status_code == 200
    assert api.get("/models/active").json()["default"] == "second"


def test_the_form_suggests_what_goes_with_the_kind_chosen(site):
    app, page = site
    form = page.get("/admin/providers").text
    form = form[form.index('id="new-provider"'):form.index("</form>", form.index('id="new-provider"'))]
    selected = re.search(r'<option value="(\w+)"[^>]* selected>', form).group(1)
    assert selected == "openai"
    assert 'name="base_url" required placeholder="https://api.openai.com/v1"' in form
    assert 'name="api_key_env" placeholder="OPENAI_API_KEY"' in form
    assert 'value="anthropic" data-base-url="https://api.anthropic.com" data-key-env="ANTHROPIC_API_KEY"' in form


def test_every_kind_has_its_suggestions():
    assert set(KIND_EXAMPLES) == set(KINDS)
