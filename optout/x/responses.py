"""One watcher of X's answers on a page, for the login and the settings alike.

X says more in its API answers than on screen: an `errors[]` list with codes and messages, HTTP 429 or
error code 88 when it rate-limits (with `x-rate-limit-reset`, the epoch second the limit ends), the
onboarding API's next `subtask_id`, and 5xx answers that make a page draw "Something went wrong".
`XResponses(page)` is attached once by whoever opens the page (runner, `optout login`) and passed to
the code that needs it, so nothing keeps pages in a module-global registry."""

from __future__ import annotations

import json
from collections import defaultdict
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


Step = tuple[str, str]  # (flow token, subtask id): the login step a request of the onboarding API answers


@dataclass
class _Sent:
    """One request of the onboarding API that answers a step, and what X made of it: "sent" (no answer
    yet), "moved" (X went on to another step), "stayed" (X asked the same step again), "refused" (an
    error, held in `error` until it is known whether it counts), then "counted" or "stale" (it came
    after X moved on), or "lost" (no answer at all)."""

    step: Step
    state: str = "sent"
    error: ApiError | None = None
    next_subtask: str | None = None


class XResponses:
    """Every response of one page: the first rate limit (raised by `raise_if_hit`), failed API reads,
    and the onboarding API's errors and next subtask.

    X's page sends more than the answers optout types: while a step waits for a person (the emailed
    code, a denied login, a captcha) it polls that step every second. A poll sent just after the code
    reaches X once the login is over, and X refuses it ("Flow token expired"); the page ignores that.
    So an error counts only when no request the page sent earlier for the same step made X move on,
    and waits while one of them is still unanswered (answers can arrive in any order)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.hit: RateLimited | None = None
        self.api_failures = 0
        self.subtask: str | None = None
        self.errors: list[ApiError] = []
        self._steps: defaultdict[Step, list[_Sent]] = defaultdict(list)  # each step's requests, in sent order
        self._sent: dict[Request, _Sent] = {}
        page.on("request", self._on_request)
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def detach(self) -> None:
        self.page.remove_listener("request", self._on_request)
        self.page.remove_listener("requestfailed", self._on_request_failed)
        self.page.remove_listener("response", self._on_response)

    def raise_if_hit(self) -> None:
        if self.hit is not None:
            raise self.hit

    def mark(self) -> int:
        """A bookmark in the onboarding errors: `errors_since(mark)` are the answers to what came after."""
        return len(self.errors)

    def errors_since(self, mark: int) -> list[ApiError]:
        return self.errors[mark:]

    def _on_request(self, request: Request) -> None:
        step = _step_answered_by(request)
        if step is not None:
            self._sent[request] = sent = _Sent(step)
            self._steps[step].append(sent)

    def _on_request_failed(self, request: Request) -> None:
        sent = self._sent.get(request)
        if sent is not None and sent.state == "sent":
            sent.state = "lost"
            self._settle(sent.step)

    async def _on_response(self, response: Response) -> None:
        body = await _json(response)
        limited = rate_limit_in(response, body)
        if limited is not None and self.hit is None:  # assign after the await: handlers interleave
            self.hit = limited
        path = urlsplit(response.url).path
        if response.status >= 500 and any(marker in path for marker in S.API_PATH_MARKERS):
            self.api_failures += 1
        elif limited is None and _failed_graphql_read(response, body):
            self.api_failures += 1  # GraphQL fails a read with 200 and errors[] (the Grok page draws its error)
        if S.ONBOARDING_URL_PART in response.url and response.request.method == "POST":
            self._onboarding(response, body if isinstance(body, dict) else {})

    def _onboarding(self, response: Response, body: dict) -> None:
        error = _api_error(response, body)
        subtasks = body.get("subtasks")
        next_subtask = subtasks[0].get("subtask_id") if subtasks and isinstance(subtasks[0], dict) else None
        sent = self._sent.pop(response.request, None)
        if sent is None:  # not an answer to a step (the flow's start), or sent before this watcher
            if error is not None:
                self.errors.append(error)
            elif next_subtask:
                self.subtask = next_subtask
            return
        sent.error, sent.next_subtask = error, next_subtask
        sent.state = "refused" if error else "stayed" if next_subtask == sent.step[1] else "moved"
        self._settle(sent.step)

    def _settle(self, step: Step) -> None:
        """Count the errors and the next subtask X answered for `step`, in the order the page sent them,
        as far as earlier requests for the step are answered; drop what came after X moved on."""
        moved = False
        for sent in self._steps[step]:
            if sent.state == "sent":
                return
            if moved:
                sent.state = "stale"
            elif sent.state == "refused":
                self.errors.append(sent.error)
                sent.state = "counted"
            elif sent.next_subtask:
                self.subtask, sent.next_subtask = sent.next_subtask, None
            moved = moved or sent.state == "moved"


def _api_error(response: Response, body: dict) -> ApiError | None:
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    if not errors and response.status < 400:
        return None
    first = errors[0] if errors else {}
    code = first.get("code") if isinstance(first.get("code"), int) else None
    if response.status == 429:
        code = code or S.CODE_RATE_LIMIT
    reset = response.headers.get("x-rate-limit-reset")
    return ApiError(code, response.status, first.get("message"), float(reset) if reset and reset.isdigit() else None)


def _step_answered_by(request: Request) -> Step | None:
    """The (flow token, subtask id) an onboarding POST answers, as X's web client sends it; None for the
    flow's start or anything else."""
    if S.ONBOARDING_URL_PART not in request.url or request.method != "POST":
        return None
    try:
        body = json.loads(request.post_data or "")
        token, subtask = body["flow_token"], body["subtask_inputs"][0]["subtask_id"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return (token, subtask) if isinstance(token, str) and isinstance(subtask, str) else None


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
