"""SmartBot: a self-hosted assistant gateway. `create_app()` builds the Flask application."""
from __future__ import annotations

from typing import Any

from flask import Flask

from .version import __version__

__all__ = ["__version__", "create_app"]


def create_app(config: Any = None, *, start_workers: bool = True) -> Flask:
    """Build the app from `config` (a Settings, a dict, a TOML path, or None for SMARTBOT_CONFIG).

    Nothing happens at import time; tests build as many apps as they need.
    """
    from .telemetry import logs
    from .settings.loading import load
    from .settings.sections import Settings
    from .runtime import Runtime
    from .web.app import build_flask_app

    settings = config if isinstance(config, Settings) else load(config)
    logs.configure(settings.log_level, settings.log_format, settings.audit.log_file)
    runtime = Runtime(settings)
    app = build_flask_app(runtime)
    if start_workers:
        runtime.start()
    return app
