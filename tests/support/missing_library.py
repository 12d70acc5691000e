"""A module that needs a library no install has: how the connector registry tells a missing extra."""
from __future__ import annotations

import smartbot_library_that_is_never_installed  # noqa: F401
