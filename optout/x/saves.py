"""What a click saved: X writes settings over REST (a form posted to /1.1/account/settings.json) or
GraphQL (a mutation posted to /i/api/graphql/<queryId>/<OperationName>, JSON {"variables": {...}}).
Both are recognised here and named the way the catalog names a control's save (`Save.name`): the form
field, or "Operation.variable". A GraphQL mutation is matched by its operation name, never by its query
id, which changes with every X web build."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Request, Response

from optout.x import screens


def graphql_operation(url: str) -> str | None:
    """The operation of a GraphQL request URL (…/graphql/<queryId>/<Operation>), else None."""
    parts = urlsplit(url).path.rstrip("/").split("/")
    if len(parts) >= 3 and parts[-3] == "graphql":
        return parts[-1]
    return None


def is_save(response: Response) -> bool:
    """A settings write: a POST of X's settings form, or of a GraphQL mutation."""
    request = response.request
    if request.method != "POST":
        return False
    if urlsplit(response.url).path.endswith(screens.SETTINGS_API_SUFFIX):
        return True
    return (graphql_operation(response.url) or "").endswith("Mutation")


def written(request: Request) -> list[str]:
    """The names of what the request wrote (never the values: those are public booleans, but a name is
    all the after-click check needs)."""
    operation = graphql_operation(request.url)
    if operation is None:
        return list(parse_qs(request.post_data or "").keys())
    try:
        variables = (json.loads(request.post_data or "{}") or {}).get("variables") or {}
    except (ValueError, AttributeError):
        return [operation]
    return [f"{operation}.{name}" for name in variables] if isinstance(variables, dict) and variables else [operation]


async def refusal(response: Response) -> str | None:
    """Why X refused the save, or None when it took it: an HTTP error, or (GraphQL's way) an answer of
    200 that carries errors[] instead of data."""
    if not response.ok:
        return f"X answered the save with HTTP {response.status}"
    if graphql_operation(response.url) is None:
        return None
    try:
        body = await response.json()
    except (PlaywrightError, ValueError):
        return "X answered the save with a body that is not JSON"
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        return f"X answered the save with error {first.get('code', '?')}: {str(first.get('message', ''))[:120]}"
    return None
