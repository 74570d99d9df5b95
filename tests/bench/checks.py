"""Assertions shared by the bench smoke tests."""
from __future__ import annotations


def assert_positive(rows: list[dict], *keys: str) -> None:
    """Every row has every key as a finite positive number."""
    for row in rows:
        for key in keys:
            value = row[key]
            assert isinstance(value, (int, float)) and value > 0 and value == value, (key, row)
