"""Serving SmartBot: gunicorn's settings, read from the [server] section."""
