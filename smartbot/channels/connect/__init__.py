"""Connect mode: the channel dials out to its platform (long polling or a websocket) instead of
waiting for webhooks, for servers with no public URL. See `base.py` for the contract."""
