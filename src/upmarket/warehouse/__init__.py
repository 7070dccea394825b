"""Warehouse layer: connection, canonical schema, ingestion, runs and publishing."""

from upmarket.warehouse.connection import DEFAULT_URL, Warehouse, connect, default_url

__all__ = ["DEFAULT_URL", "Warehouse", "connect", "default_url"]
