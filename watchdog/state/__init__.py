"""Durable state behind one Store protocol (SQLite by default)."""
