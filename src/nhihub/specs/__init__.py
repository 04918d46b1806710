"""Specifications as data: field tables, code tables and the check-code catalogue.

The files live in ``nhihub/specs/data/``; the modules here only load them.
"""
