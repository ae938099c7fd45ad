"""One watcher of X's answers on a page, for the login and the settings alike.

X says more in its API answers than on screen: an `errors[]` list with codes and messages, HTTP 429 or
error code 88 when it rate-limits (with `x-rate-limit-reset`, the epoch second the limit ends), the
onboarding API's next `subtask_id`, and 5xx answers that make a page draw "Something went wrong".
`XResponses(page)` is attached once by whoever opens the page (runner, `optout login`) and passed to
the code that needs it, so nothing keeps pages in a module-global registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request, Response

from optout.errors import RateLimited
from optout.x import screens as S
from optout.x.saves import graphql_operation


@dataclass
class ApiError:
    """One error answer of X's onboarding API (the login's second signal beside the screen)."""

    code: int | None
    status: int
    message: str | None = None
    reset_at: float | None = None
    refuses_answer: bool = True  # its request carried the answer optout typed (else the page's own, e.g. a poll)


@dataclass
class _Sent:
    """An onboarding request: its place in the order the page sent them, and whether it carried the
    answer optout was typing (judged when it was sent)."""

    place: int
    carries_answer: bool


class XResponses:
    """Every response of one page: the first rate limit (raised by `raise_if_hit`), failed API reads,
    and the onboarding API's errors and the step it asks for next.

    X's page sends more than the answers optout types: while a step waits for a person (the emailed
    code, a denied login, a captcha) it polls that step every second. A poll sent just after the code
    reaches X once the login is over, and X refuses it ("Flow token expired"); the page ignores that.
    So an error `refuses_answer` only when its request carried the answer optout typed (`answering`),
    sent before X accepted that answer. For the same reason the next step is taken from the latest
    request the page sent, whatever order the answers arrive in."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.hit: RateLimited | None = None
        self.api_failures = 0
        self.subtask: str | None = None
        self.errors: list[ApiError] = []  # the onboarding API's error answers, in arrival order
        self._answer: str | None = None
        self._sent = 0  # onboarding requests the page has sent
        self._in_flight: dict[Request, _Sent] = {}  # onboarding requests not answered yet
        self._answered: dict[Request, _Sent] = {}  # answered, their bodies not read yet
        self._subtask_from = 0  # the place of the request whose answer set `subtask`
        page.on("request", self._on_request)
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response_arrived)
        page.on("response", self._on_response)

    def detach(self) -> None:
        self.page.remove_listener("request", self._on_request)
        self.page.remove_listener("requestfailed", self._on_request_failed)
        self.page.remove_listener("response", self._on_response_arrived)
        self.page.remove_listener("response", self._on_response)

    def answering(self, answer: str | None) -> None:
        """The text optout is about to send to a login step; None once the login is over. Held in memory
        only, and no longer than until X accepts it."""
        self._answer = answer or None

    def new_flow(self) -> None:
        """A new login: what X asked in an earlier one, or answers to its requests, say nothing now."""
        self.subtask, self._subtask_from = None, self._sent + 1

    def raise_if_hit(self) -> None:
        if self.hit is not None:
            raise self.hit

    def mark(self) -> int:
        """A bookmark in the onboarding errors: `errors_since(mark)` are the answers to what came after."""
        return len(self.errors)

    def errors_since(self, mark: int) -> list[ApiError]:
        return self.errors[mark:]

    def _on_request(self, request: Request) -> None:
        if _is_onboarding_post(request):
            self._sent += 1
            carries = self._answer is not None and self._answer in _strings_in(request)
            self._in_flight[request] = _Sent(self._sent, carries)

    def _on_request_failed(self, request: Request) -> None:
        self._in_flight.pop(request, None)

    def _on_response_arrived(self, response: Response) -> None:
        """Synchronous, so it runs before a "requestfailed" of the same request (a body cut short) can."""
        sent = self._in_flight.pop(response.request, None)
        if sent is not None:
            self._answered[response.request] = sent

    async def _on_response(self, response: Response) -> None:
        sent = self._answered.pop(response.request, _Sent(0, False))
        body = await _json(response)
        limited = rate_limit_in(response, body)
        if limited is not None and self.hit is None:  # assign after the await: handlers interleave
            self.hit = limited
        path = urlsplit(response.url).path
        if response.status >= 500 and any(marker in path for marker in S.API_PATH_MARKERS):
            self.api_failures += 1
        elif limited is None and _failed_graphql_read(response, body):
            self.api_failures += 1  # GraphQL fails a read with 200 and errors[] (the Grok page draws its error)
        if _is_onboarding_post(response.request):
            self._onboarding(response, body if isinstance(body, dict) else {}, sent)

    def _onboarding(self, response: Response, body: dict, sent: _Sent) -> None:
        """An error answer names no next step: X stays where it was."""
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        if errors or response.status >= 400:
            self.errors.append(_api_error(response, errors, refuses_answer=sent.carries_answer))
            return
        if sent.carries_answer:
            self._answer = None  # accepted: a copy the page sends again later is not this step's answer
        subtasks = body.get("subtasks")
        if subtasks and isinstance(subtasks[0], dict) and sent.place >= self._subtask_from:
            self.subtask, self._subtask_from = subtasks[0].get("subtask_id"), sent.place


def _api_error(response: Response, errors: list[dict], *, refuses_answer: bool) -> ApiError:
    first = errors[0] if errors else {}
    code = first.get("code") if isinstance(first.get("code"), int) else None
    if response.status == 429:
        code = code or S.CODE_RATE_LIMIT
    reset = response.headers.get("x-rate-limit-reset")
    return ApiError(code, response.status, first.get("message"), float(reset) if reset and reset.isdigit() else None,
                    refuses_answer)


def _is_onboarding_post(request: Request) -> bool:
    return S.ONBOARDING_URL_PART in request.url and request.method == "POST"


def _strings_in(request: Request) -> Iterator[str]:
    """Every string value in the request's JSON body: what the page sent for a step, unescaped."""
    try:
        pending = [json.loads(request.post_data or "")]
    except ValueError:
        return
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _failed_graphql_read(response: Response, body: object) -> bool:
    return (response.request.method == "GET" and graphql_operation(response.url) is not None
            and isinstance(body, dict) and bool(body.get("errors")))


async def _json(response: Response) -> object:
    """The body when X answered JSON; None otherwise (or when the page navigated away meanwhile)."""
    if "json" not in (response.headers.get("content-type") or ""):
        return None
    try:
        return await response.json()
    except (PlaywrightError, ValueError):
        return None
    except Exception:  # noqa: BLE001  a body that is gone with its page: nothing to learn
        return None


async def rate_limit_of(response: Response) -> RateLimited | None:
    """A RateLimited error when `response` is X refusing for rate, else None."""
    return rate_limit_in(response, await _json(response) if response.status != 429 else None)


def rate_limit_in(response: Response, body: object) -> RateLimited | None:
    """HTTP 429, or error 88 in the JSON body, as a RateLimited error naming the reset time."""
    errors = body.get("errors") if isinstance(body, dict) else None
    limited = response.status == 429 or any(isinstance(e, dict) and e.get("code") == 88 for e in errors or [])
    if not limited:
        return None
    reset_at = _float(response.headers.get("x-rate-limit-reset"))
    when = datetime.fromtimestamp(reset_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if reset_at else None
    return RateLimited(
        f"X is rate-limiting this account ({urlsplit(response.url).path} answered "
        f"{'HTTP 429' if response.status == 429 else 'error 88'}).",
        hint=f"Try again after {when}." if when else "Wait a while before trying again.",
        reset_at=reset_at,
        url=response.url,
    )


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
