"""Alembic migrations of the nhihub schema (package data; run through nhihub.storage.migrate)."""
