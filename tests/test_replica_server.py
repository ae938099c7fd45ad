"""The replica as a server: privacy-policy versions, the request log, latency, the admin API's checks,
the fixture files, and ``python -m recordings serve``. Mostly plain HTTP; one browser test for the policy."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from recordings import i18n, policy
from recordings.admin import AdminError
from recordings.scenarios import load_scenarios
from recordings.server import ReplicaServer
from replica_fixtures import (
    api_login,
)

ROOT = Path(__file__).resolve().parents[1]


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read().decode()


def test_privacy_policy_versions_and_switch(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/en/privacy")
    expect(page).to_have_title("X Privacy Policy")
    expect(page.locator("h1")).to_have_text("X Privacy Policy")
    expect(page.locator("text=Effective: January 15, 2026")).to_be_visible()
    page.get_by_role("link", name="Effective November 15, 2024").click()
    page.wait_for_url("**/en/privacy/previous/version_19")
    expect(page.locator("text=Effective: November 15, 2024")).to_be_visible()

    assert fake_x.admin.policy()["current"] == "version_21"
    old_body = page.goto(fake_x.base_url + "/en/privacy").text()
    fake_x.admin.set_policy("version_22")
    page.reload()
    expect(page.locator("text=Effective: December 1, 2026")).to_be_visible()
    assert "other AI developers" in page.content() and "other AI developers" not in old_body
    status, body = fetch(fake_x.base_url + "/en/privacy/previous/version_21")
    assert status == 200 and "Effective: January 15, 2026" in body


def test_future_policy_version_is_not_published_early(fake_x):
    status, body = fetch(fake_x.base_url + "/en/privacy/previous/version_22")
    assert status == 200 and '"page": "not_found"' in body


def test_policy_files_parse_and_differ():
    versions = policy.versions()
    assert list(versions) == ["version_19", "version_20", "version_21", "version_22"]
    assert [v.effective_text for v in versions.values()] == [
        "November 15, 2024", "September 29, 2025", "January 15, 2026", "December 1, 2026"]
    assert versions["version_21"].body != versions["version_22"].body


def test_request_log_attributes_requests_to_handles(fake_x, replica_context):
    ctx = replica_context()
    fake_x.admin.clear_requests()
    api_login(ctx, fake_x.base_url, "alice")
    log = fake_x.admin.requests(handle="alice")
    task_posts = [r for r in log if r["method"] == "POST" and r["path"] == "/1.1/onboarding/task.json"]
    assert len(task_posts) == 2 and all(r["status"] == 200 for r in task_posts)  # identifier + password
    everything = fake_x.admin.requests()
    assert everything[0]["handle"] is None and everything[0]["path"] == "/"
    seqs = [r["seq"] for r in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    since = seqs[-1]
    ctx.request.get(fake_x.base_url + "/1.1/account/settings.json")
    newer = fake_x.admin.requests(since=since)
    assert [(r["path"], r["handle"], r["status"]) for r in newer] == [("/1.1/account/settings.json", "alice", 200)]
    fake_x.admin.clear_requests()
    assert fake_x.admin.requests() == []


def test_latency_applies_to_every_response_but_not_admin():
    server = ReplicaServer(latency_ms=150).start()
    try:
        started = time.monotonic()
        fetch(server.base_url + "/i/flow/login")
        assert time.monotonic() - started >= 0.15
        started = time.monotonic()
        server.admin.policy()
        assert time.monotonic() - started < 0.15
    finally:
        server.stop()


def test_admin_api_rejects_bad_input(fake_x):
    with pytest.raises(AdminError, match="passwrd"):
        fake_x.admin.add_account({"handle": "typo", "passwrd": "x"})
    with pytest.raises(AdminError, match="404"):
        fake_x.admin.get_account("no-such-handle")
    with pytest.raises(AdminError):
        fake_x.admin.set_settings("alice", {"allow_everything": False})
    with pytest.raises(AdminError):
        fake_x.admin.add_fault({"kind": "earthquake"})
    with pytest.raises(AdminError):
        fake_x.admin.set_policy("version_99")


def test_reset_restores_the_accounts_file(fake_x):
    fake_x.admin.set_settings("alice", {"allow_xai_data_sharing": False})
    fixture_faults = fake_x.admin.faults()
    fake_x.admin.add_fault({"kind": "slow", "ms": 10})
    fake_x.admin.set_policy("version_22")
    fake_x.admin.reset()
    assert fake_x.admin.get_account("alice")["settings"]["allow_xai_data_sharing"] is True
    assert fake_x.admin.faults() == fixture_faults and fake_x.admin.policy()["current"] == "version_21"


def test_bundled_fixtures_cover_every_language_and_flow():
    scenarios = load_scenarios()
    assert {s.language for s in scenarios} == {"en", "de", "es", "ja"}
    assert {s.flow for s in scenarios} == {"legacy", "new"}
    passwords = [s.password for s in scenarios]
    assert len(set(passwords)) == len(passwords)
    assert all(re.fullmatch(rf"pw-{s.key}-\w{{4}}", s.password) for s in scenarios)


def test_string_tables_are_complete_and_translated():
    english = i18n.strings("en")
    for lang in ("de", "es", "ja"):
        table = i18n.strings(lang)
        assert set(table) == set(english), lang
        same = [k for k in table if table[k] == english[k] and not re.fullmatch(r"[\w .&/-]*(Grok|Premium|X|OK)[\w .&/-]*|", english[k])
                and not k.startswith(("reworded.", "inserted.", "sheet."))]  # the redesign faults' texts: English only
        assert len(same) <= 8, (lang, same)
    for lang in ("fr", "pt", "nl"):  # settings screens only; the rest falls back to English
        own = json.loads((i18n.STRINGS_DIR / f"{lang}.json").read_text(encoding="utf-8"))
        assert set(own) <= set(english) and all(own[k] != english[k] for k in own if k != "settings.title"), lang


def test_cli_prints_url_first_and_stops_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "recordings", "serve", "--port", "0", "--latency-ms", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        url = re.fullmatch(r"REPLICA_URL=(http://127\.0\.0\.1:\d+)", line).group(1)
        status, body = fetch(url + "/__replica__/policy")
        assert json.loads(body)["current"] == "version_21"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_graphql_query_ids_are_new_for_every_replica_start():
    from recordings.server import ReplicaServer

    with ReplicaServer() as one, ReplicaServer() as two:
        first, second = one.admin.graphql_query_ids(), two.admin.graphql_query_ids()
    assert set(first) == {"GrokSettingsScreenQuery", "XaiDataSharingSettingsMutation",
                          "XaiPersonalizationSettingsMutation", "XaiMemoryMutation"}
    assert all(first[op] != second[op] for op in first)
