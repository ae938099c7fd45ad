"""X's check for browsers that announce automation, as maintained X clients describe it (x-facts, "2026
update"): X's login page runs a script that reads the browser (``navigator.webdriver``, the user agent and
its client hints, in the page and in a worker) and sends the result with the flow as a device token; the
server also reads the request's own headers. A browser that announces automation, or a flow that comes
without the token (requests forged outside a browser), is refused at the password step with exactly the
answer a wrong password gets (error 399), as X does: the client cannot tell the two apart.

Only signals a browser announces are checked; nothing here guesses from timing or behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

TOKEN_FIELD = "device_token"  # in ``input_flow_data`` of the flow's start request


def signals_of(token: object, headers: Mapping[str, str]) -> list[str]:
    """The automation signals one login flow showed; empty for an ordinary browser."""
    found: list[str] = []
    for name in ("User-Agent", "Sec-CH-UA"):
        if "headless" in (headers.get(name) or "").lower():
            found.append(f"{name} header says Headless")
    data = _decode(token)
    if data is None:
        return found + ["no device token (the login page's script did not run)"]
    if data.get("webdriver") is not False:
        found.append("navigator.webdriver is true")
    for where, ua, brands in (("page", data.get("ua"), data.get("brands")), ("worker", data.get("worker_ua"),
                                                                           data.get("worker_brands"))):
        if "headless" in str(ua or "").lower():
            found.append(f"navigator.userAgent in the {where} says Headless")
        if any("headless" in str(b).lower() for b in brands or []):
            found.append(f"navigator.userAgentData in the {where} says Headless")
    return found


def _decode(token: object) -> dict | None:
    if not isinstance(token, str):
        return None
    try:
        data = json.loads(token)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
