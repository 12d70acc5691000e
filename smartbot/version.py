"""SmartBot's version, in a module of its own that imports nothing: the package metadata
(setup.cfg) and the OpenAPI document read it without building an app."""
from __future__ import annotations

__version__ = "0.1.0"
