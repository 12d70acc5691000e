"""The stack's limit: a plain Flask JSON endpoint under the same gunicorn settings as SmartBot."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/webhooks/generic")
def webhook():
    data = request.get_json(silent=True) or {}
    return jsonify(status="accepted", event_id=data.get("event_id"))


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")
