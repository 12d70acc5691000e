"""The dashboard: is this node ready, how busy it is, how the model providers are doing, what
happened lately. Each figure is a number with a link to where its details are (the queues page,
the audit log filtered to the same rows), never a raw structure."""
from __future__ import annotations

from ..audit.events import RESULTS
from ..manage import audit_view, state
from ..ops import model_state, queues
from ..ops.health import readiness
from ..web.context import current_runtime
from .base import bp, page, render

CHECKS = ("database", "workers", "channels", "queue", "alerts")


@bp.get("/")
@page("admin:login")
def dashboard(principal):
    runtime = current_runtime()
    ready, checks = readiness(runtime)
    channels = {name: entry for name, entry in checks.get("channels", {}).items() if name != "ok"}
    return render("admin/dashboard.html", principal=principal, ready=ready, checks=checks, check_names=CHECKS,
                  channels=channels, figures=state.figures(runtime.db), queues=queues.overview(runtime.db),
                  models=model_state.read(runtime), cache=runtime.models.cache,
                  recent=audit_view.search(runtime.db, limit=15, named=True), results=RESULTS)
