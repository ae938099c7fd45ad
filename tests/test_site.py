"""Secrets go only to the site they were stored for (issue 12 item 1): sites, per-site keyring entries,
the move of entries stored before sites existed, and the check on the live page before typing, against
the replica reached under a second host name (localhost instead of 127.0.0.1: the same server, another
site)."""

from __future__ import annotations

import json
import uuid

import keyring
import pytest
import pytest_asyncio
from pydantic import SecretStr

from optout.browser import open_browser
from optout.config import load_settings
from optout.credentials import Credentials, CredentialStore, SessionCookies
from optout.errors import UnknownAccount, WrongSite
from optout.site import X_SITE, ensure_on_site, is_x, site_of
from optout.x.login import ensure_session
from optout.x.responses import XResponses

ASYNC = pytest.mark.asyncio(loop_scope="module")


def test_sites():
    for same in ("https://x.com", "https://twitter.com/", "https://WWW.X.COM:443/i/flow/login?x=1",
                 "https://mobile.twitter.com/home", "https://x.com."):
        assert site_of(same) == X_SITE, same
    assert site_of("http://x.com") == "http://x.com"  # plain http is not X's site
    assert site_of("https://x.com.evil.example") == "https://x.com.evil.example"
    assert site_of("https://api.x.com") == "https://api.x.com"
    assert site_of("http://127.0.0.1:8765/home") == "http://127.0.0.1:8765"
    assert site_of("http://localhost:80/") == "http://localhost"
    assert site_of("http://[::1]:9/") == "http://[::1]:9"
    assert is_x("https://twitter.com") and not is_x("http://127.0.0.1:8765") and not is_x("about:blank")
    with pytest.raises(ValueError):
        site_of("about:blank")
    ensure_on_site("https://twitter.com/i/flow/login", "https://x.com", "the password")
    with pytest.raises(WrongSite) as refused:
        ensure_on_site("http://localhost:8765/i/flow/login?secret=1", "http://127.0.0.1:8765", "the password")
    assert "localhost:8765" in refused.value.message and "secret=1" not in str(refused.value)
    with pytest.raises(WrongSite):
        ensure_on_site("https://x.com/", None, "the password")  # a secret of no known site goes nowhere


def _settings(tmp_path, service, base_url="https://x.com", **kw):
    return load_settings(keyring_service=service, base_url=base_url, state_dir=tmp_path / "state",
                         data_dir=tmp_path / "data", **kw)


def test_each_site_sees_only_its_own_secrets(tmp_path):
    service = f"optout-test-{uuid.uuid4().hex[:8]}"
    x_store = CredentialStore(_settings(tmp_path, service))
    demo = CredentialStore(_settings(tmp_path, service, "http://127.0.0.1:8765"))
    x_store.save(Credentials(handle="alice", password=SecretStr("pw-for-x-123")))
    demo.save(Credentials(handle="alice", password=SecretStr("pw-for-demo-456")))
    demo.save_session("alice", SessionCookies(auth_token=SecretStr("a" * 40), ct0=SecretStr("c" * 32)))
    assert x_store.get("alice").password.get_secret_value() == "pw-for-x-123"
    assert x_store.get("alice").site == X_SITE and demo.get("alice").site == "http://127.0.0.1:8765"
    assert demo.get("alice").password.get_secret_value() == "pw-for-demo-456"
    assert x_store.load_session("alice") is None and demo.load_session("alice").site == "http://127.0.0.1:8765"
    other_port = CredentialStore(_settings(tmp_path, service, "http://127.0.0.1:9999"))
    with pytest.raises(UnknownAccount) as missing:
        other_port.get("alice")
    assert "127.0.0.1:9999" in missing.value.message
    assert not other_port.has("alice") and other_port.handles() == []
    # The keyring entries themselves name the site.
    assert keyring.get_password(service, "alice@x.com") == "pw-for-x-123"
    assert keyring.get_password(service, "alice@http://127.0.0.1:8765") == "pw-for-demo-456"
    assert keyring.get_password(service, "alice") is None
    for store in (x_store, demo):
        store.remove("alice")


def test_entries_of_the_version_before_sites_move_to_x_on_first_use(tmp_path):
    """What today's version stored (no site, `__handles__` in the keyring) becomes X's, whatever base_url
    the first command after the upgrade runs with; the old entries are gone afterwards."""
    service = f"optout-test-{uuid.uuid4().hex[:8]}"
    session = json.dumps({"auth_token": "a" * 40, "ct0": "c" * 32, "twid": "u%3D7", "expires": None, "saved_at": 1.0})
    legacy = {"alice": "pw-old-alice", "alice:totp": "JBSWY3DPEHPK3PXP", "alice:ids": '{"email": "a@example.com"}',
              "alice:session": session, "bob": "pw-old-bob", "__handles__": '["alice", "bob"]'}
    for name, value in legacy.items():
        keyring.set_password(service, name, value)
    demo = CredentialStore(_settings(tmp_path, service, "http://127.0.0.1:8765"))
    assert demo.handles() == []  # first use, on the demo site: moved, but to X, not here
    assert all(keyring.get_password(service, name) is None for name in legacy)
    x_store = CredentialStore(_settings(tmp_path, service))
    assert x_store.handles() == ["alice", "bob"]
    alice = x_store.get("alice")
    assert (alice.password.get_secret_value(), alice.totp_secret.get_secret_value(), alice.email) == (
        "pw-old-alice", "JBSWY3DPEHPK3PXP", "a@example.com")
    assert x_store.load_session("alice").twid == "u%3D7" and x_store.get("bob").password.get_secret_value() == "pw-old-bob"
    index = json.loads((tmp_path / "state" / "credentials-index.json").read_text())
    assert index["services"][service]["sites"][X_SITE] == {"alice": ["ids", "password", "session", "totp"],
                                                           "bob": ["password"]}
    for handle in ("alice", "bob"):
        x_store.remove(handle)


# ---- the live page ----


@pytest.fixture(scope="module")
def settings(replica, tmp_path_factory):
    home = tmp_path_factory.mktemp("site")
    return load_settings(
        base_url=replica.base_url, timeout_ms=8_000, typing_delay_ms=0, pause_min_ms=0, pause_max_ms=0,
        keyring_service=f"optout-test-{uuid.uuid4().hex[:8]}", data_dir=home / "data", state_dir=home / "state",
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(settings):
    async with open_browser(settings) as session:
        yield session


def _account(replica, store) -> tuple[str, str]:
    handle, password = "st_" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex[:12]
    replica.admin.add_account({"handle": handle, "password": password})
    store.save(Credentials(handle=handle, password=SecretStr(password)))
    return handle, password


def _elsewhere(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


@ASYNC
async def test_nothing_is_typed_on_a_page_of_another_host(replica, settings, browser, tmp_path):
    """base_url and the stored site agree; only the live page is elsewhere (X's login page sent the
    browser to another host). optout stops before typing, and the replica saw no login at all."""
    store = CredentialStore(settings)
    handle, password = _account(replica, store)
    context = await browser.new_context()
    page = await context.new_page()
    login = settings.url("/i/flow/login")
    await context.route(login + "*", lambda route: route.fulfill(
        status=200, content_type="text/html",
        body=f"<script>location.replace({json.dumps(_elsewhere(login))})</script>"))
    seq = (replica.admin.requests() or [{"seq": 0}])[-1]["seq"]
    with pytest.raises(WrongSite) as refused:
        await ensure_session(context, page, handle, store, settings, responses=XResponses(page), shots_dir=tmp_path)
    await context.close()
    assert _elsewhere(replica.base_url) in refused.value.message and password not in str(refused.value)
    assert replica.admin.get_account(handle)["logins"] == []
    assert replica.admin.requests(handle=handle, since=seq) == []  # not even the account name reached it

    # The same account on the right host logs in: the refusal above was the host, nothing else.
    context = await browser.new_context()
    page = await context.new_page()
    assert await ensure_session(context, page, handle, store, settings, responses=XResponses(page)) is True
    await context.close()
    assert [(x["outcome"], x["password_tried"]) for x in replica.admin.get_account(handle)["logins"]] == [("success", True)]


@ASYNC
async def test_session_cookies_are_not_set_for_another_site(replica, settings, browser):
    """A store handed to a run whose base_url names another host: the cookies are not set at all."""
    store = CredentialStore(settings)
    handle, _ = _account(replica, store)
    store.save_session(handle, SessionCookies(auth_token=SecretStr("a" * 40), ct0=SecretStr("c" * 32)))
    elsewhere = settings.model_copy(update={"base_url": _elsewhere(settings.base_url)})
    context = await browser.new_context()
    with pytest.raises(WrongSite):
        page = await context.new_page()
        await ensure_session(context, page, handle, store, elsewhere, responses=XResponses(page))
    assert await context.cookies() == []
    await context.close()


# ---- runs against another host are flagged ----


def test_receipts_and_the_report_flag_a_run_not_against_x(tmp_path):
    from datetime import datetime, timezone

    from optout.evidence import Receipt
    from optout.report import build_report

    def receipt(base_url: str) -> Receipt:
        return Receipt(tool_version="t", handle="alice", base_url=base_url, mode="check", outcome="ok",
                       started_at=datetime.now(timezone.utc))

    assert json.loads(receipt("https://twitter.com").model_dump_json())["off_x"] is False
    written = json.loads(receipt("http://127.0.0.1:8765").model_dump_json())
    assert written["off_x"] is True and Receipt.model_validate(written).off_x is True  # reads back
    folder = tmp_path / "alice" / "20260101T000000.000000Z"
    folder.mkdir(parents=True)
    (folder / "receipt.json").write_text(receipt("http://127.0.0.1:8765").model_dump_json())
    html = build_report([folder / "receipt.json"], tmp_path / "report.html").read_text()
    assert "not X: http://127.0.0.1:8765" in html
    (folder / "receipt.json").write_text(receipt("https://x.com").model_dump_json())
    assert "not X:" not in build_report([folder / "receipt.json"], tmp_path / "report.html").read_text()


def test_doctor_and_schedule_flag_another_host_and_the_job_holds_no_secret(optout_env):
    from tests.secrets_scan import find_leaks

    password = "pw-sched-" + uuid.uuid4().hex[:8]
    assert optout_env.run("accounts", "add", "sched", "--password-stdin", input=password + "\n").returncode == 0
    doctor = json.loads(optout_env.run("doctor", "--json").stdout)
    site = next(c for c in doctor["checks"] if c["name"] == "site")
    assert site["ok"] is False and "not X" in site["detail"] and site_of(optout_env.base_url) in site["detail"]
    keyring_check = next(c for c in doctor["checks"] if c["name"] == "keyring")
    assert "SecretService" in keyring_check["detail"] and "trusted" in keyring_check["detail"]
    on_x = json.loads(optout_env.run("doctor", "--json", extra_env={"OPTOUT_BASE_URL": "https://x.com"}).stdout)
    assert next(c for c in on_x["checks"] if c["name"] == "site")["ok"] is True

    planned = optout_env.run("schedule", "install", "--dry-run", "--json", "--backend", "cron")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert "not X" in plan["notes"][0] and optout_env.base_url in plan["notes"][0]
    assert find_leaks([password], texts=[planned.stdout]) == []
