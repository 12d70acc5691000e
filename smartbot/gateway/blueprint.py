"""`/webhooks/<channel>`: what `wsgi_route` leaves to Flask (GET, odd paths, chunked bodies)."""
from __future__ import annotations

from flask import Blueprint, request

from ..web import current_runtime, to_flask_response
from .wsgi_route import ROUTE, answer

bp = Blueprint("gateway", __name__)


@bp.route(ROUTE, methods=["GET", "POST"])
def webhook(channel: str):
    return to_flask_response(answer(current_runtime(), channel, request.environ))
