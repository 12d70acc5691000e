"""`vision` on a provider made in the admin API: shown, changed, validated, and it decides whether
the next image reaches the model as an image part."""
from __future__ import annotations

from tests.support.admin_api import AdminApi


def _body(fake_model, **extra):
    return {"name": "seer", "kind": "openai", "base_url": fake_model.base_url, "model": "fake-1", "max_retries": 0,
            **extra}


def test_vision_is_created_shown_changed_and_typed(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    api = AdminApi(app)
    assert api.post("/providers", _body(fake_model, vision=True)).status_code == 201
    assert api.get("/providers/seer").json()["vision"] is True
    assert api.get("/providers/main").json()["vision"] is False
    assert api.patch("/providers/seer", {"vision": False}).status_code == 200
    assert api.get("/providers/seer").json()["vision"] is False
    wrong = api.patch("/providers/seer", {"vision": "yes please"})
    assert wrong.status_code == 422 and "vision" in wrong.text
    assert app.runtime.providers.spec("seer").vision is False
