"""Chat platforms: one module each behind `base.Channel`, found by name in `registry`."""
