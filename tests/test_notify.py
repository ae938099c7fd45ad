"""Notifications go through apprise to a real local HTTP endpoint (json://), say what happened, and are
not sent when nothing happened unless asked."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from optout import notify
from optout.config import load_settings
from optout.models import AccountOutcome, AccountResult, Mode, SettingOutcome, SettingResult
from optout.policy import PolicyDiff
from optout.store import StoredPolicy


def _setting(setting: str, outcome: SettingOutcome, before: bool = True) -> SettingResult:
    return SettingResult(setting=setting, outcome=outcome, before=before, after=outcome != SettingOutcome.TURNED_OFF)


def _policy(label: str, text: str) -> StoredPolicy:
    now = datetime.now(timezone.utc)
    return StoredPolicy(text_hash=label, effective_label=label, url="u", text=text, first_seen=now, last_seen=now)


REPAIRED = AccountResult(handle="alice", mode=Mode.APPLY, outcome=AccountOutcome.OK, settings=[
    _setting("business-partners", SettingOutcome.TURNED_OFF), _setting("grok-training", SettingOutcome.ALREADY_OFF, False)])
HUMAN = AccountResult(handle="bob", mode=Mode.APPLY, outcome=AccountOutcome.NEEDS_HUMAN,
                      message="X asks for a code sent by email.", hint="Run `optout login --interactive @bob`.")
QUIET = AccountResult(handle="carol", mode=Mode.APPLY, outcome=AccountOutcome.OK,
                      settings=[_setting("business-partners", SettingOutcome.ALREADY_OFF, False)])


def test_drift_policy_change_and_human_reach_the_endpoint(inbox):
    diff = PolicyDiff(old=_policy("January 15, 2026", "a"), new=_policy("December 1, 2026", "b"),
                      summary=["Effective date changed from January 15, 2026 to December 1, 2026.",
                               "Changed sections: 3. Sharing Information."], unified="-a\n+b\n")
    message = notify.compose([REPAIRED, HUMAN, QUIET], policy_change=diff)
    delivery = notify.send(load_settings(notify_urls=[inbox.url]), message)

    assert delivery.sent and delivery.targets == 1
    assert len(inbox.received) == 1
    got = inbox.received[0]
    assert got["path"] == "/hook"
    body = got["body"]
    assert body["type"] == "failure"  # someone needs a person: the strongest level wins
    assert body["title"] == ("optout: 1 setting(s) switched back off; 1 account(s) need a person; "
                             "X privacy policy changed")
    text = body["message"]
    assert "X's privacy policy changed (effective December 1, 2026; was January 15, 2026)." in text
    assert "Changed sections: 3. Sharing Information." in text
    assert "Drift repaired on @alice: business-partners was on again" in text
    assert "grok-training" not in text  # already off: nothing to say
    assert "@bob needs a person: X asks for a code sent by email. Run `optout login --interactive @bob`." in text
    assert text.endswith("Checked 3 account(s): 2 ok.")


def test_report_only_and_failed_repairs_are_worded_as_such():
    found = AccountResult(handle="dan", mode=Mode.CHECK, outcome=AccountOutcome.DRIFT,
                          settings=[_setting("business-partners", SettingOutcome.DRIFT)])
    stuck = AccountResult(handle="eve", mode=Mode.APPLY, outcome=AccountOutcome.VERIFY_FAILED,
                          settings=[_setting("grok-training", SettingOutcome.VERIFY_FAILED)])
    message = notify.compose([found, stuck])
    assert "Drift found on @dan: business-partners is on (report only: not changed)." in message.body
    assert "Drift NOT repaired on @eve: grok-training" in message.body
    assert message.title == "optout: 2 setting(s) on; 1 account(s) failed"


def test_nothing_happened_sends_nothing_unless_asked(inbox):
    settings = load_settings(notify_urls=[inbox.url])
    assert notify.compose([QUIET]) is None
    always = notify.compose([QUIET], always=True)
    assert always.title == "optout: all settings still off" and always.level == "info"
    assert notify.send(settings, always).sent
    assert inbox.received[0]["body"]["type"] == "info"


def test_undeliverable_targets_are_reported_not_raised():
    settings = load_settings(notify_urls=["json://127.0.0.1:9/hook", "not a url at all"])
    delivery = notify.send(settings, notify.compose([QUIET], always=True))
    assert delivery.targets == 2 and delivery.invalid_targets == 1 and not delivery.sent


def test_notify_urls_from_the_environment_as_json(monkeypatch, inbox):
    monkeypatch.setenv("OPTOUT_NOTIFY_URLS", json.dumps([inbox.url]))
    assert load_settings().notify_urls == [inbox.url]
