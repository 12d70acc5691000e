"""The web side every face shares: the Flask app factory, the runtime behind a request, the session
token check, and what every answer carries for the browser."""
