"""The replica's server-side truth: accounts, sessions, faults, the request log.

Everything here is touched only from the server's event-loop thread (handlers and timers), so there
are no locks. Tests read this truth through the admin API, never by reaching into these objects, which
keeps the replica usable out of process (``python -m recordings serve``) exactly as in process.
"""

from __future__ import annotations

import fnmatch
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from .scenarios import Fault, Scenario, load_scenarios, normalize_handle
from . import policy

# Which kinds a fault matches by request path, and the paths it defaults to (patterns): the settings
# API, and the Grok preferences' GraphQL operations (matched by name, see graphql.fault_path).
_DEFAULT_FAULT_PATHS = {
    "save_fails": ("/1.1/account/settings.json", "/i/api/graphql/*Mutation"),
    "save_reverts": ("/1.1/account/settings.json", "/i/api/graphql/*Mutation"),
    "went_wrong": ("/1.1/account/settings.json", "/i/api/graphql/*Query"),
}


@dataclass
class LoginRecord:
    """One login attempt as the account's owner would see it in their login history."""

    at: float
    flow: str
    identifier_ok: bool = True
    password_tried: bool = False
    outcome: str = "started"
    automation: list[str] = field(default_factory=list)  # automation signals the browser announced

    def as_json(self) -> dict:
        return {
            "at": self.at,
            "flow": self.flow,
            "identifier_ok": self.identifier_ok,
            "password_tried": self.password_tried,
            "outcome": self.outcome,
            "automation": list(self.automation),
        }


@dataclass
class Account:
    scenario: Scenario
    settings: dict[str, bool]
    logins: list[LoginRecord] = field(default_factory=list)
    email_code: str | None = None  # the "mailbox": the code last sent, readable via the admin API
    human_ok: bool = False  # a person solved the pending captcha / email / denial
    notices: dict[str, str] = field(default_factory=dict)  # sheet kind -> the button pressed on it

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Account:
        return cls(scenario=scenario, settings=scenario.initial_settings())

    @property
    def key(self) -> str:
        return self.scenario.key


@dataclass
class Session:
    token: str
    handle: str
    expires_at: float | None
    alive: bool = True

    def live(self, now: float) -> bool:
        return self.alive and (self.expires_at is None or now < self.expires_at)


@dataclass
class RequestEntry:
    seq: int
    at: float
    method: str
    path: str
    status: int
    handle: str | None

    def as_json(self) -> dict:
        return self.__dict__.copy()


class ReplicaState:
    """All mutable state of one replica server."""

    def __init__(self, accounts_file: str | Path | None = None) -> None:
        self.accounts_file = accounts_file
        self.reset()

    def reset(self) -> None:
        """Back to the accounts file: fresh settings, no sessions, no faults, empty logs."""
        self.accounts: dict[str, Account] = {}
        self.sessions: dict[str, Session] = {}
        self.faults: list[Fault] = []
        self.requests: list[RequestEntry] = []
        self._seq = 0
        self.policy_current = policy.DEFAULT_VERSION
        for scenario in load_scenarios(self.accounts_file):
            self.put_account(scenario)

    # accounts -------------------------------------------------------------------------------
    def put_account(self, scenario: Scenario) -> Account:
        """Add or replace an account; replacing one ends its sessions and drops its faults."""
        key = scenario.key
        if key in self.accounts:
            self.expire_sessions(key)
            self.faults = [f for f in self.faults if f.handle != key]
        account = Account.from_scenario(scenario)
        self.accounts[key] = account
        for fault in scenario.faults:
            self.add_fault(fault.model_copy())
        return account

    def account(self, handle: str | None) -> Account | None:
        return self.accounts.get(normalize_handle(handle)) if handle else None

    def find_by_identifier(self, identifier: str) -> Account | None:
        """X accepts a screen name, an email address or a phone number as the login identifier."""
        ident = identifier.strip()
        by_handle = self.account(ident)
        if by_handle:
            return by_handle
        for acct in self.accounts.values():
            s = acct.scenario
            if ident.lower() == s.email.lower() or _digits(ident) and _digits(ident) == _digits(s.phone):
                return acct
        return None

    # sessions -------------------------------------------------------------------------------
    def new_session(self, account: Account) -> Session:
        now = time.time()
        ttl = account.scenario.session_ttl_s
        session = Session(
            token=secrets.token_hex(20),
            handle=account.key,
            expires_at=now + ttl if ttl else None,
        )
        self.sessions[session.token] = session
        return session

    def live_session(self, token: str | None) -> Session | None:
        session = self.sessions.get(token or "")
        if session and session.live(time.time()) and session.handle in self.accounts:
            return session
        return None

    def live_sessions(self, handle: str) -> int:
        now = time.time()
        return sum(1 for s in self.sessions.values() if s.handle == handle and s.live(now))

    def expire_sessions(self, handle: str) -> None:
        for s in self.sessions.values():
            if s.handle == normalize_handle(handle):
                s.alive = False

    # faults ---------------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> None:
        """Register a fault; a path-less session_expired acts at once instead of being stored."""
        if fault.kind == "session_expired" and fault.path is None:
            for acct in self.accounts.values():
                if fault.handle in (None, acct.key):
                    self.expire_sessions(acct.key)
            return
        self.faults.append(fault)

    def _matches(self, fault: Fault, kind: str, handle: str | None, path: str | None) -> bool:
        if fault.kind != kind:
            return False
        if fault.handle is not None and fault.handle != handle:
            return False
        if path is None:
            return True
        if kind == "rate_limit" and fault.path is None:
            return path.startswith(("/1.1/", "/i/api/graphql/"))
        wanted = (fault.path,) if fault.path else _DEFAULT_FAULT_PATHS.get(kind)
        if wanted is None:
            return True
        return any(fnmatch.fnmatchcase(path.rstrip("/"), want.rstrip("/")) for want in wanted)

    def peek_fault(self, kind: str, handle: str | None, path: str | None = None) -> Fault | None:
        """The first matching fault, without using it up (for drawing links, not for acting)."""
        return next((f for f in self.faults if self._matches(f, kind, handle, path)), None)

    def take_fault(self, kind: str, handle: str | None, path: str | None = None) -> Fault | None:
        """The first matching fault, counted as fired once (removed when its count runs out)."""
        fault = self.peek_fault(kind, handle, path)
        if fault is not None and fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                self.faults.remove(fault)
        return fault

    # request log ----------------------------------------------------------------------------
    def log_request(self, method: str, path: str, status: int, handle: str | None) -> None:
        self._seq += 1
        self.requests.append(RequestEntry(self._seq, time.time(), method, path, status, handle))

    def request_log(self, handle: str | None = None, since: int | None = None) -> list[dict]:
        key = normalize_handle(handle) if handle else None
        return [
            r.as_json()
            for r in self.requests
            if (key is None or r.handle == key) and (since is None or r.seq > since)
        ]


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())
