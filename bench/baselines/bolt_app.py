"""Peer baseline: a Slack Bolt app behind Bolt's Flask adapter, the usual way to build a Slack bot.

Bolt verifies the v0 signature and timestamp, acks, and runs the listener in its thread pool; the
listener stores nothing. It runs under the same gunicorn settings as SmartBot. The workspace's
authorization is a constant (what Bolt caches after its one auth.test call), so no request leaves
the machine. Bench-only: slack_bolt lives in bench/.peers-venv, never in SmartBot's dependencies.
"""
import os

from flask import Flask, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult

_AUTH = AuthorizeResult(enterprise_id=None, team_id="T0BENCH", bot_user_id="UBENCHBOT", bot_id="BBENCH",
                        bot_token="xoxb-bench-not-a-real-token")

bolt = App(signing_secret=os.environ["BENCH_SLACK_SIGNING_SECRET"], authorize=lambda **_: _AUTH,
           token_verification_enabled=False)
handled = 0


@bolt.event("message")
def on_message(event, ack=None):  # noqa: ANN001 -- Bolt injects arguments by name
    global handled
    handled += 1


app = Flask(__name__)
handler = SlackRequestHandler(bolt)


@app.post("/webhooks/slack")
def slack_events():
    return handler.handle(request)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")
