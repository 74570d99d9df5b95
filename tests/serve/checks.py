"""Assertions shared by the serve tests."""
from __future__ import annotations

import httpx


def assert_error(response: httpx.Response, status: int, *words: str) -> str:
    """``response`` is ``status`` with a JSON ``{"error": "<one line>"}`` naming ``words``,
    and no traceback."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    message = body["error"]
    assert "\n" not in message and "Traceback" not in response.text
    for word in words:
        assert word in message, (word, message)
    return message


def close(a: dict[str, float] | None, b: dict[str, float] | None, tol: float = 1e-5) -> bool:
    """Same labels, probabilities within ``tol``."""
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= tol for k in a)
