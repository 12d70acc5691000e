"""The admin page (server-rendered, JWT in an HttpOnly cookie with CSRF protection)."""
