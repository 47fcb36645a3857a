"""Operator extra links: the "Instagram request" button on approval tasks."""

from __future__ import annotations
