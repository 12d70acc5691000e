"""The assistant: what answers a chat message besides the model itself: the providers and model
routes read live from the database, conversation memory, token usage and quotas, and the wiring
that builds the model service for a process."""
