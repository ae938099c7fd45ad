"""The server side of X's login: one state machine behind both the legacy and the new login UI.

X's onboarding API hands the page a ``flow_token`` and the next ``subtask_id``; the page draws the
screen for that subtask and posts the user's answer back. Both UIs here speak that protocol (the new
one on its own endpoint), so every challenge and refusal is implemented once. Every step that reaches
an account is written to its login history, which is how tests prove a driver did not, say, retry a
wrong password behind the user's back.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

import pyotp

from .automation import signals_of
from .state import Account, LoginRecord, ReplicaState, Session

IDENTIFIER = "LoginEnterUserIdentifierSSO"
ALTERNATE = "LoginEnterAlternateIdentifierSubtask"
PASSWORD = "LoginEnterPassword"
TWO_FACTOR = "LoginTwoFactorAuthChallenge"
ACID = "LoginAcid"
DENY = "DenyLoginSubtask"
ARKOSE = "ArkoseLogin"
SUCCESS = "LoginSuccessSubtask"

NEW_FLOW_URL = "/i/jf/onboarding/web?mode=login"


class LoginError(Exception):
    """An answer X gives as ``400 {"errors":[{code, message}]}``; the page shows it as a toast."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def as_json(self) -> dict:
        return {"errors": [{"code": self.code, "message": self.message}]}


@dataclass
class LoginFlow:
    token: str
    ui: str  # "legacy" or "new": which login UI started it
    step: str = IDENTIFIER
    handle: str | None = None
    record: LoginRecord | None = None
    pending: list[str] = field(default_factory=list)  # challenges still ahead after the password
    automation: list[str] = field(default_factory=list)  # what the browser announced (automation.py)


@dataclass
class StepResult:
    """What the endpoint answers: the next subtask, or a bounce to the other UI, or a new session."""

    body: dict
    session: Session | None = None


class LoginMachine:
    def __init__(self, state: ReplicaState, login_flow: str, automation_check: bool = True) -> None:
        self.state = state
        self.login_flow = login_flow  # server mode: account | legacy | new
        self.automation_check = automation_check  # X refuses browsers that announce automation
        self.flows: dict[str, LoginFlow] = {}

    def start(self, ui: str, device_token: object = None, headers: dict[str, str] | None = None) -> StepResult:
        flow = LoginFlow(token=secrets.token_hex(16), ui=ui)
        if self.automation_check:
            flow.automation = signals_of(device_token, headers or {})
        self.flows[flow.token] = flow
        return self._next(flow)

    def handle_of(self, token: str | None) -> str | None:
        """For the request log: the account a flow token belongs to, once identified."""
        flow = self.flows.get(token or "")
        return flow.handle if flow else None

    def submit(self, token: str | None, subtask_input: dict) -> StepResult:
        flow = self.flows.get(token or "")
        if flow is None:
            raise LoginError(366, "Flow token expired. Please start again.")
        subtask = subtask_input.get("subtask_id")
        if subtask != flow.step:
            raise LoginError(366, f"Expected subtask {flow.step}, got {subtask}.")
        handler = {
            IDENTIFIER: self._identifier,
            ALTERNATE: self._alternate,
            PASSWORD: self._password,
            TWO_FACTOR: self._two_factor,
            ACID: self._acid,
            DENY: self._deny,
            ARKOSE: self._arkose,
        }[flow.step]
        return handler(flow, subtask_input)

    # steps ----------------------------------------------------------------------------------
    def _identifier(self, flow: LoginFlow, data: dict) -> StepResult:
        try:
            text = data["settings_list"]["setting_responses"][0]["response_data"]["text_data"]["result"]
        except (KeyError, IndexError, TypeError):
            text = ""
        account = self.state.find_by_identifier(str(text))
        if account is None:
            raise LoginError(399, "Sorry, we could not find your account.")
        if flow.ui == "legacy" and self.login_flow == "account" and account.scenario.flow == "new":
            # A rollout bounce: this account is in the new-login cohort; the page reloads there.
            del self.flows[flow.token]
            return StepResult({"redirect": NEW_FLOW_URL})
        flow.handle = account.key
        flow.record = LoginRecord(at=time.time(), flow=flow.ui, automation=list(flow.automation))
        account.logins.append(flow.record)
        flow.step = ALTERNATE if account.scenario.unusual_activity else PASSWORD
        return self._next(flow)

    def _alternate(self, flow: LoginFlow, data: dict) -> StepResult:
        account = self._account(flow)
        answer = _text(data).lower().lstrip("@")
        s = account.scenario
        ok = answer in {s.key, s.email.lower()} or (_digits(answer) and _digits(answer) == _digits(s.phone))
        if not ok:
            flow.record.identifier_ok = False
            flow.record.outcome = "alternate_failed"
            raise LoginError(399, "Incorrect. Please try again.")
        flow.record.identifier_ok = True
        flow.step = PASSWORD
        return self._next(flow)

    def _password(self, flow: LoginFlow, data: dict) -> StepResult:
        account = self._account(flow)
        if flow.record.password_tried:
            flow.record = LoginRecord(at=time.time(), flow=flow.ui, identifier_ok=flow.record.identifier_ok,
                                      automation=list(flow.automation))
            account.logins.append(flow.record)
        flow.record.password_tried = True
        if flow.automation:  # X answers a flagged browser exactly as it answers a wrong password
            flow.record.outcome = "refused_automation"
            raise LoginError(399, "Wrong password!")
        password = (data.get("enter_password") or {}).get("password", "")
        if not secrets.compare_digest(str(password).encode(), account.scenario.password.encode()):
            flow.record.outcome = "wrong_password"
            raise LoginError(399, "Wrong password!")
        s = account.scenario
        if s.limited:
            flow.record.outcome = "limited"
            raise LoginError(367, "We've temporarily limited your login. Please try again later.")
        flow.pending = [
            step
            for step, wanted in (
                (ARKOSE, s.captcha),
                (DENY, s.deny_login),
                (TWO_FACTOR, bool(s.totp_secret or s.backup_code)),
                (ACID, s.email_code),
            )
            if wanted
        ]
        return self._advance(flow)

    def _two_factor(self, flow: LoginFlow, data: dict) -> StepResult:
        account = self._account(flow)
        s = account.scenario
        code = _text(data).replace(" ", "")
        method = (data.get("enter_text") or {}).get("method", "totp")
        if method == "backup_code":
            ok = bool(s.backup_code) and secrets.compare_digest(code.encode(), s.backup_code.encode())
        else:
            ok = bool(s.totp_secret) and pyotp.TOTP(s.totp_secret).verify(code, valid_window=1)
        if not ok:
            flow.record.outcome = "wrong_code"
            raise LoginError(236, "Your code was incorrect. Please try again.")
        return self._advance(flow)

    def _acid(self, flow: LoginFlow, data: dict) -> StepResult:
        account = self._account(flow)
        if data.get("poll"):
            return self._advance(flow) if self._human(account) else self._next(flow)
        code = _text(data).replace(" ", "")
        if not (account.email_code and secrets.compare_digest(code.encode(), account.email_code.encode())):
            flow.record.outcome = "wrong_code"
            raise LoginError(236, "Your code was incorrect. Please try again.")
        account.email_code = None
        return self._advance(flow)

    def _deny(self, flow: LoginFlow, data: dict) -> StepResult:
        account = self._account(flow)
        if self._human(account):  # the person confirmed "it was me" from the email X sent
            return self._advance(flow)
        if data.get("poll"):
            return self._next(flow)
        # "Got it": the flow is over; the person must confirm by email and start again.
        del self.flows[flow.token]
        return StepResult({"flow_token": None, "subtasks": [], "redirect": "/"})

    def _arkose(self, flow: LoginFlow, data: dict) -> StepResult:
        account = self._account(flow)
        return self._advance(flow) if self._human(account) else self._next(flow)

    # helpers --------------------------------------------------------------------------------
    def _advance(self, flow: LoginFlow) -> StepResult:
        """Move to the next pending challenge, or finish the login with a new session."""
        account = self._account(flow)
        if not flow.pending:
            flow.step = SUCCESS
            flow.record.outcome = "success"
            account.human_ok = False
            del self.flows[flow.token]
            session = self.state.new_session(account)
            body = self._body(flow)
            return StepResult(body, session)
        flow.step = flow.pending.pop(0)
        flow.record.outcome = {ARKOSE: "captcha", DENY: "denied", TWO_FACTOR: "two_factor", ACID: "email_code"}[
            flow.step
        ]
        if flow.step == ACID:
            account.email_code = f"{secrets.randbelow(1_000_000):06d}"
        return self._next(flow)

    def _human(self, account: Account) -> bool:
        """A person solved the pending challenge (admin API); it counts once."""
        if account.human_ok:
            account.human_ok = False
            return True
        return False

    def _account(self, flow: LoginFlow) -> Account:
        account = self.state.account(flow.handle)
        if account is None:  # replaced or reset by the admin API mid-login
            self.flows.pop(flow.token, None)
            raise LoginError(366, "Flow token expired. Please start again.")
        return account

    def _next(self, flow: LoginFlow) -> StepResult:
        return StepResult(self._body(flow))

    def _body(self, flow: LoginFlow) -> dict:
        subtask: dict = {"subtask_id": flow.step}
        account = self.state.account(flow.handle)
        if account:
            subtask["screen_name"] = account.scenario.handle
            if flow.step == ACID:
                subtask["email_hint"] = _mask_email(account.scenario.email)
            if flow.step == TWO_FACTOR:
                s = account.scenario
                subtask["methods"] = [m for m, have in (("totp", s.totp_secret), ("backup_code", s.backup_code)) if have]
        body = {"flow_token": flow.token, "status": "success", "subtasks": [subtask]}
        if account:
            body["lang"] = account.scenario.language
        return body


def _text(data: dict) -> str:
    return str((data.get("enter_text") or {}).get("text", "")).strip()


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _mask_email(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}{'*' * max(len(name) - 1, 1)}@{domain}"
