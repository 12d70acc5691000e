"""Helpers the platform modules share: outbound HTTP and open-API tokens, callback crypto,
timestamps, reply URLs, markup and group triggers."""
