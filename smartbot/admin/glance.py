"""Metrics at a glance: the few numbers ops/glance.py reads from the process's metrics and the
database, on one page for whoever holds `admin:metrics`."""
from __future__ import annotations

from ..ops import glance
from ..web.context import current_runtime
from .base import bp, page, render


@bp.get("/metrics")
@page("admin:metrics")
def glance_page(principal):
    return render("admin/glance.html", principal=principal, g=glance.read(current_runtime().db))
