"""Ingest engine for the regional cleantech warehouse: PxWeb client, JSON-stat loader, local server."""

__version__ = "0.1.0"
