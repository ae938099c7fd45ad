"""Logging in to X as a careful human would, and rarely: reuse the stored session when it is alive.

- screen.py: reading the page (one JS probe plus X's onboarding subtask) and waiting for the next screen;
- handlers.py: the state machine `log_in`, one small handler per screen (HANDLERS);
- refusals.py: what X's error answers on each step mean (typed errors, errors.py);
- session.py: the stored session (cookies, alive check) and `ensure_session`.
X's answers are watched by optout.x.responses.XResponses, which the page's owner passes in. The same code
runs against x.com and the replica; only settings.base_url differs. `optout login` itself is
optout/login_flow.py."""

from optout.x.login.handlers import HANDLERS, field_of, log_in, usable
from optout.x.login.refusals import interactive_hint, refusal
from optout.x.login.screen import Attempt, Seen, read_screen, wait_screen
from optout.x.login.session import (
    ensure_session,
    failure_screenshot,
    read_session,
    same_account,
    session_alive,
    session_cookie_params,
    settle_home,
    store_session,
    with_screenshot,
)

__all__ = [
    "HANDLERS", "Attempt", "Seen", "ensure_session", "failure_screenshot", "field_of", "interactive_hint",
    "log_in", "read_screen", "read_session", "refusal", "same_account", "session_alive", "session_cookie_params",
    "settle_home", "store_session", "usable", "wait_screen", "with_screenshot",
]
