"""The webhook gateway: POST /webhooks/<channel>, the inbox and the outbox."""
