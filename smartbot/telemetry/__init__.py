"""Telemetry: metrics, request ids, request tracking and process logging; a leaf every layer may
use."""
