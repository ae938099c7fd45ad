"""run_account, the one work function, end to end: real Chromium, real keyring, the replica's truth.
Every outcome leaves a receipt that verifies, with screenshots, and nothing secret in any of it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext
from pydantic import SecretStr

from optout.browser import open_browser
from optout.config import Settings, load_settings
from optout.credentials import Credentials, CredentialStore
from optout.evidence import Receipt, verify_tree
from optout.models import Mode
from optout.runner import MAX_TABS, run_account
from secrets_scan import find_leaks

pytestmark = pytest.mark.asyncio(loop_scope="module")
PASSWORD = "Tr0ub4dor&3-" + uuid.uuid4().hex[:6]
BP, GROK = "allow_sharing_data_for_third_party_personalization", "allow_xai_data_sharing"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium(replica):
    async with open_browser(load_settings(base_url=replica.base_url)) as session:
        yield session


class World:
    """One user's settings, keyring service and replica account."""

    def __init__(self, replica, tmp_path, chromium):
        self.replica, self.chromium = replica, chromium
        self.settings = load_settings(
            base_url=replica.base_url, data_dir=tmp_path / "data", state_dir=tmp_path / "state",
            config_dir=tmp_path / "config", keyring_service=f"optout-test-{uuid.uuid4().hex[:8]}",
            typing_delay_ms=0, pause_min_ms=0, pause_max_ms=0, timeout_ms=8_000,
        )
        self.store = CredentialStore(self.settings)
        self.tmp_path = tmp_path
        self.handle = ""

    def account(self, password=PASSWORD, **scenario) -> str:
        self.handle = "run_" + uuid.uuid4().hex[:8]
        self.replica.admin.add_account({"handle": self.handle, "password": PASSWORD, **scenario})
        self.store.save(Credentials(handle=self.handle, password=SecretStr(password)))
        return self.handle

    async def run(self, mode=Mode.APPLY, setting_ids=None, **options):
        return await run_account(self.chromium, self.handle, self.settings, mode=mode, setting_ids=setting_ids,
                                 store=self.store, **options)

    def truth(self) -> dict:
        return self.replica.admin.get_account(self.handle)["settings"]

    def posts(self) -> list[dict]:
        return [r for r in self.replica.admin.requests(handle=self.handle)
                if r["method"] == "POST" and r["path"].endswith("/account/settings.json")]

    def receipt(self, result) -> Receipt:
        return Receipt.model_validate_json(open(result.receipt, "rb").read())

    def assert_no_leaks(self, *texts):
        secrets = [PASSWORD]
        session = self.store.load_session(self.handle, include_expired=True)
        if session:
            secrets += [session.auth_token.get_secret_value(), session.ct0.get_secret_value()]
        files = [p for p in self.tmp_path.rglob("*") if p.is_file()]
        assert files
        assert find_leaks(secrets, files=files, texts=texts) == []


@pytest.fixture
def world(replica, tmp_path, chromium):
    replica.admin.clear_faults()
    return World(replica, tmp_path, chromium)


async def test_turned_off_persisted_then_already_off_without_a_click(world):
    world.account()
    first = await world.run()
    assert first.outcome == "ok" and first.logged_in
    assert [(s.setting, s.before, s.after, s.outcome, s.route, s.verified_after_reload) for s in first.settings] == [
        ("business-partners", True, False, "turned_off", "direct", True),
        ("grok-training", True, False, "turned_off", "direct", True)]
    assert world.truth()[BP] is False and world.truth()[GROK] is False
    assert world.truth()["allow_xai_personalization"] is True  # not asked, not touched
    receipt = world.receipt(first)
    assert receipt.outcome == "ok" and receipt.previous_receipt is None and receipt.browser_version
    assert sorted(receipt.images) == ["after-business-partners.png", "after-grok-training.png",
                                      "before-business-partners.png", "before-grok-training.png"]
    assert all(s.changed and s.url.endswith(s.setting and s.url.rsplit("/", 1)[-1]) for s in receipt.settings)

    posts_before = len(world.posts())
    second = await world.run()
    assert second.outcome == "ok" and not second.logged_in  # the stored session was reused
    assert [s.outcome for s in second.settings] == ["already_off", "already_off"]
    assert len(world.posts()) == posts_before  # already off: no click, no save request at all
    assert world.receipt(second).previous_receipt.startswith(receipt.started_at.strftime("%Y%m%dT"))
    report = verify_tree(world.settings.evidence_root)
    assert report.ok and report.receipts == 2, report.problems
    world.assert_no_leaks()


async def test_every_setting_with_all(world):
    from optout import catalog

    world.account()
    result = await world.run(setting_ids=catalog.all_ids())
    assert result.outcome == "ok"
    assert [s.outcome for s in result.settings] == ["turned_off"] * 6
    truth = world.truth()
    assert truth.pop("allow_grok_memory") is True  # known to the catalog, never switched
    assert truth.pop("allow_ai_partner_sharing") is True  # the replica's "inserted" control, not drawn here
    assert not any(truth.values()), truth


async def test_save_fails_is_verify_failed_and_truth_still_on(world):
    world.account(faults=[{"kind": "save_fails"}])
    result = await world.run(setting_ids=["business-partners"])
    assert result.outcome == "verify_failed"
    (setting,) = result.settings
    assert (setting.before, setting.after, setting.changed, setting.outcome) == (True, True, False, "verify_failed")
    assert "HTTP 500" in setting.message
    assert world.truth()[BP] is True
    assert (world.tmp_path / result.evidence_dir / "after-business-partners.png").is_file()
    assert verify_tree(world.settings.evidence_root).ok


async def test_quiet_revert_is_caught_by_the_reload(world):
    world.account(faults=[{"kind": "save_reverts", "after_ms": 300}])
    real_delay = Settings.model_fields["verify_delay_s"].default  # the test is about it: not the tests' 0
    world.settings = world.settings.model_copy(update={"verify_delay_s": real_delay})
    result = await world.run(setting_ids=["business-partners"])
    assert [s.outcome for s in result.settings] == ["verify_failed"]
    assert world.truth()[BP] is True


async def test_setting_found_neither_by_url_nor_menu_is_ui_changed_with_a_screenshot(world):
    world.account(faults=[{"kind": "not_found", "path": "/settings/grok_settings"}])
    result = await world.run()
    assert result.outcome == "ui_changed" and result.outcome.exit_code == 1
    grok = next(s for s in world.receipt(result).settings if s.setting == "grok-training")
    assert grok.outcome == "not_found" and "nor through" in grok.message
    assert (world.tmp_path / result.evidence_dir / "notfound-grok-training.png").is_file()
    assert world.truth()[GROK] is True and world.truth()[BP] is False  # the other setting still done


async def test_moved_page_uses_the_menu_and_says_so(world):
    world.account(faults=[{"kind": "moved", "path": "/settings/grok_settings"}])
    result = await world.run()
    assert result.outcome == "ok"
    routes = {s.setting: s.route for s in world.receipt(result).settings}
    assert routes == {"business-partners": "direct", "grok-training": "menu"}
    assert world.truth()[GROK] is False


async def test_dry_run_changes_nothing(world):
    world.account(settings={BP: False})
    result = await world.run(mode=Mode.DRY_RUN)
    assert result.outcome == "ok"
    assert [s.outcome for s in result.settings] == ["already_off", "would_turn_off"]
    assert world.posts() == [] and world.truth()[GROK] is True


async def test_check_reports_drift_read_only(world):
    world.account(settings={BP: False})
    result = await world.run(mode=Mode.CHECK)
    assert result.outcome == "drift"
    assert [s.outcome for s in result.settings] == ["already_off", "drift"]
    assert world.posts() == [] and world.truth()[GROK] is True
    assert verify_tree(world.settings.evidence_root).ok


@pytest.mark.parametrize("style", ["429", "code88"])
async def test_rate_limit_is_an_outcome_with_the_reset_time(world, style):
    world.account()
    world.replica.admin.add_fault({"kind": "rate_limit", "handle": world.handle, "style": style, "reset_s": 300,
                                   "path": "/1.1/account/settings.json"})
    result = await world.run()
    assert result.outcome == "rate_limited"
    assert 290 < result.rate_limit_reset - time.time() <= 301
    receipt = world.receipt(result)
    assert receipt.failure.outcome == "rate_limited" and receipt.failure.setting == "business-partners"
    assert receipt.failure.screenshot in receipt.images
    assert verify_tree(world.settings.evidence_root).ok


async def test_wrong_password_is_login_failed_with_a_receipt(world):
    world.account(password="not-the-password-" + uuid.uuid4().hex[:6])
    result = await world.run()
    assert result.outcome == "login_failed" and result.settings == []
    receipt = world.receipt(result)
    assert receipt.failure.outcome == "login_failed" and receipt.failure.screenshot in receipt.images
    assert verify_tree(world.settings.evidence_root).ok
    world.assert_no_leaks(json.dumps(result.model_dump(mode="json")))


@pytest.mark.parametrize("pages_at_once", [1, MAX_TABS])
async def test_session_that_dies_mid_run_gets_one_fresh_login(world, pages_at_once):
    world.account(faults=[{"kind": "session_expired", "path": "/settings/grok_settings", "count": 1}])
    result = await world.run(pages_at_once=pages_at_once)
    assert result.outcome == "ok", result.message
    assert [s.outcome for s in result.settings] == ["turned_off", "turned_off"]
    assert len(world.replica.admin.get_account(world.handle)["logins"]) == 2


BP_PAGE, GROK_PAGE = "/settings/data_sharing_with_business_partners", "/settings/grok_settings"


async def test_saved_session_pages_load_at_once_without_the_home_page_receipt_in_catalog_order(world):
    """With a saved session the two settings pages load in two tabs at once, and the pages themselves
    prove the session: no home page. The replica logs a request when it answers it, so the Grok page
    answered before the (slowed) partners page means the Grok tab did not wait for the partners tab."""
    world.account()
    assert (await world.run(mode=Mode.CHECK)).logged_in
    world.replica.admin.add_fault({"kind": "slow", "handle": world.handle, "path": BP_PAGE, "ms": 2_000})
    world.replica.admin.clear_requests()
    result = await world.run(mode=Mode.CHECK)
    assert not result.logged_in and len(world.replica.admin.get_account(world.handle)["logins"]) == 1
    paths = [r["path"] for r in world.replica.admin.requests() if r["method"] == "GET"]
    assert "/home" not in paths
    assert paths.index(GROK_PAGE) < paths.index(BP_PAGE), paths
    assert [(s.setting, s.outcome) for s in world.receipt(result).settings] == [
        ("business-partners", "drift"), ("grok-training", "drift")]
    assert verify_tree(world.settings.evidence_root).ok


async def test_one_page_at_once_does_the_pages_in_turn_in_one_tab_receipt_in_catalog_order(world):
    """When the accounts in flight outnumber the cores, an account's pages load one after the other in its
    one tab: the slowed partners page is answered before the Grok page is asked for."""
    world.account()
    assert (await world.run(mode=Mode.CHECK)).logged_in
    world.replica.admin.add_fault({"kind": "slow", "handle": world.handle, "path": BP_PAGE, "ms": 1_000})
    world.replica.admin.clear_requests()
    result = await world.run(mode=Mode.APPLY, pages_at_once=1)
    paths = [r["path"] for r in world.replica.admin.requests() if r["method"] == "GET"]
    assert paths.index(BP_PAGE) < paths.index(GROK_PAGE), paths
    assert [(s.setting, s.outcome) for s in world.receipt(result).settings] == [
        ("business-partners", "turned_off"), ("grok-training", "turned_off")]
    assert world.truth()[BP] is False and world.truth()[GROK] is False and verify_tree(world.settings.evidence_root).ok


@pytest.mark.parametrize(("flow", "pages_at_once"), [("legacy", MAX_TABS), ("new", MAX_TABS), ("legacy", 1)])
async def test_a_fresh_login_lands_on_the_first_settings_page_and_no_home_page_loads(world, flow, pages_at_once):
    """The login asks X to land on the first settings page (redirect_after_login, where X also sends a
    logged-out visitor of that page): no home page, and no settings page loaded twice in a check."""
    world.account(flow=flow)
    world.replica.admin.clear_requests()
    result = await world.run(mode=Mode.CHECK, pages_at_once=pages_at_once)
    assert result.logged_in and [s.outcome for s in result.settings] == ["drift", "drift"]
    gets = [r["path"] for r in world.replica.admin.requests(handle=world.handle) if r["method"] == "GET"]
    assert "/home" not in gets
    assert sorted(p for p in gets if p.startswith("/settings/")) == sorted([BP_PAGE, GROK_PAGE]), gets
    assert [s.route for s in world.receipt(result).settings] == ["direct", "direct"]


async def test_saved_session_of_another_account_is_not_used(world):
    """The settings page's side nav names the account it shows; a stored session of another account leads
    to a fresh login, and nothing read on the other account's pages reaches the receipt."""
    other = world.account(settings={BP: False})
    await world.run(mode=Mode.CHECK)
    theirs = world.store.load_session(other)
    mine = world.account()
    world.store.save_session(mine, theirs)
    result = await world.run(mode=Mode.CHECK)
    assert result.logged_in and len(world.replica.admin.get_account(mine)["logins"]) == 1, (result.outcome, result.message, result.settings)
    assert [s.outcome for s in result.settings] == ["drift", "drift"]  # theirs would read already_off
    assert world.store.load_session(mine).auth_token.get_secret_value() != theirs.auth_token.get_secret_value()
    assert world.replica.admin.get_account(other)["settings"][BP] is False


async def test_a_dead_saved_session_seen_on_both_tabs_gets_one_fresh_login(world):
    world.account()
    await world.run(mode=Mode.CHECK)
    world.replica.admin.expire_sessions(world.handle)
    result = await world.run(mode=Mode.CHECK)
    assert result.logged_in and [s.outcome for s in result.settings] == ["drift", "drift"]
    assert [h["outcome"] for h in world.replica.admin.get_account(world.handle)["logins"]] == ["success", "success"]


async def test_a_rate_limit_on_one_tab_stops_the_account_and_keeps_the_other_tabs_work(world):
    world.account()
    world.replica.admin.add_fault({"kind": "rate_limit", "handle": world.handle, "reset_s": 300,
                                   "path": "/i/api/graphql/XaiDataSharingSettingsMutation"})
    result = await world.run()
    assert result.outcome == "rate_limited"
    receipt = world.receipt(result)
    assert [(s.setting, s.outcome) for s in receipt.settings] == [("business-partners", "turned_off")]
    assert receipt.failure.setting == "grok-training" and receipt.failure.screenshot in receipt.images
    assert world.truth()[BP] is False and world.truth()[GROK] is True
    assert verify_tree(world.settings.evidence_root).ok


class _PolicyRead(asyncio.Future):
    """The command's policy read, still going: `awaited` is set once the account waits for it."""

    def __init__(self) -> None:
        super().__init__()
        self.awaited = asyncio.Event()

    def add_done_callback(self, fn, *, context=None):
        self.awaited.set()
        super().add_done_callback(fn, context=context)


async def test_a_stop_while_the_policy_read_ends_commits_the_finished_run(world):
    """Ctrl-C after the settings are off, while the receipt waits for the command's policy read: the
    receipt is still committed, saying what was done (the policy unknown), not left out."""
    world.account()
    policy = _PolicyRead()
    account = asyncio.ensure_future(run_account(world.chromium, world.handle, world.settings, mode=Mode.APPLY,
                                                store=world.store, policy_version=policy))
    await asyncio.wait_for(policy.awaited.wait(), 60)
    account.cancel()
    with pytest.raises(asyncio.CancelledError):
        await account
    [path] = (world.settings.evidence_root / world.handle).glob("*/receipt.json")
    receipt = Receipt.model_validate_json(path.read_bytes())
    assert receipt.outcome == "ok" and receipt.interrupted is None and receipt.privacy_policy_version is None
    assert [s.outcome for s in receipt.settings] == ["turned_off", "turned_off"]
    assert world.truth()[BP] is False and world.truth()[GROK] is False and verify_tree(world.settings.evidence_root).ok
    policy.cancel()


async def test_a_stop_while_the_context_closes_commits_the_finished_run(world, monkeypatch):
    """Ctrl-C after the settings are off, while the account's browser context is closing: the receipt is
    still committed, saying what was done."""
    world.account()
    closing, held = asyncio.Event(), []
    close = BrowserContext.close

    async def held_open(context, *args, **kwargs):
        held.append(context)
        closing.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(BrowserContext, "close", held_open)
    account = asyncio.ensure_future(world.run())
    try:
        await asyncio.wait_for(closing.wait(), 60)
        account.cancel()
        with pytest.raises(asyncio.CancelledError):
            await account
    finally:  # nothing of this test outlives it in the module's browser and loop
        account.cancel()
        await asyncio.gather(account, return_exceptions=True)
        monkeypatch.undo()
        for context in held:
            await close(context)
    [path] = (world.settings.evidence_root / world.handle).glob("*/receipt.json")
    receipt = Receipt.model_validate_json(path.read_bytes())
    assert receipt.outcome == "ok" and receipt.interrupted is None
    assert [s.outcome for s in receipt.settings] == ["turned_off", "turned_off"]
    assert verify_tree(world.settings.evidence_root).ok
