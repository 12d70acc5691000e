"""The admin JSON API under /api/v1: JWT auth, validated bodies, an OpenAPI document built from the
same declarations the routes are made from, and every change audited with before/after."""
