"""The settings driver (optout/x/settings.py) against the replica in a real Chromium: reaching each page
(direct and by the menu), reading the box itself, switching off only what was asked, and noticing every
way X can fail. The replica's admin API is the judge of what really changed."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
import weakref
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Error as PlaywrightError

from optout import catalog
from optout.browser import open_browser
from optout.config import Settings, load_settings
from optout.errors import RateLimited, UiChanged, XKeepsFailing
from optout.x import settings as driver
from optout.x.login.screen import bound_for_login_page
from optout.x.responses import XResponses
from replica_fixtures import DEVICE_SIGNALS_JS, logged_in_answer, login_bodies
from tests.replica_truth import truth_fields

pytestmark = pytest.mark.asyncio(loop_scope="module")
PASSWORD = "correct horse battery staple 42"
SETTINGS_API = "/1.1/account/settings.json"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium(replica):
    async with open_browser(_settings(replica)) as session:
        yield session


_WATCHES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def watch(page) -> XResponses:
    """The page's one watcher of X's answers, as the runner attaches it once per account page."""
    if page not in _WATCHES:
        _WATCHES[page] = XResponses(page)
    return _WATCHES[page]


def _settings(replica, **kw):
    """A private state dir each time: where the menu found a moved page is remembered there."""
    state = Path(tempfile.mkdtemp(prefix="optout-drv-"))
    return load_settings(base_url=replica.base_url, timeout_ms=8_000, state_dir=state, config_dir=state / "config", **kw)


def _account(replica, **scenario) -> str:
    handle = "drv_" + uuid.uuid4().hex[:8]
    replica.admin.add_account({"handle": handle, "password": PASSWORD, **scenario})
    return handle


async def log_in(page, base_url: str, handle: str) -> None:
    """Test helper: a session through X's onboarding API in the page's own context, the device signals read
    on the page itself (the product's login is tested elsewhere; here it only has to get a session, and a
    typed-in login and the home page after it cost each test about half a CPU-second)."""
    context = page.context
    await context.request.get(base_url + "/")

    async def step(body: dict) -> dict:
        ct0 = next((c["value"] for c in await context.cookies() if c["name"] == "ct0"), None)
        assert ct0, "no ct0 cookie: the replica's landing page sets one"
        res = await context.request.post(base_url + "/1.1/onboarding/task.json", data=body,
                                         headers={"x-csrf-token": ct0})
        assert res.ok, await res.text()
        return await res.json()

    flow = (await step({"input_flow_data": {"device_token": await page.evaluate(DEVICE_SIGNALS_JS)}}))["flow_token"]
    answers = [await step(body) for body in login_bodies(flow, handle, PASSWORD)]
    assert logged_in_answer(answers[-1]), answers[-1]


@pytest_asyncio.fixture(loop_scope="module")
async def open_page(chromium, replica):
    """A logged-in page for a new replica account: `page, handle = await open_page(**scenario)`."""
    contexts = []

    async def make(width=None, **scenario):
        handle = _account(replica, **scenario)
        context = await chromium.new_context(viewport_width=width)
        contexts.append(context)
        page = await context.new_page()
        await log_in(page, replica.base_url, handle)
        return page, handle

    yield make
    for context in contexts:
        await context.close()


def _posts(replica, handle):
    return [r for r in replica.admin.requests(handle=handle) if r["method"] == "POST"
            and (r["path"].endswith("/1.1/account/settings.json") or r["path"].endswith("Mutation"))]


async def _turn_off(page, spec, settings):
    route = await driver.open_setting(page, spec, settings, watch(page))
    before = await driver.read_state(page, spec, settings)
    report = await driver.switch_off(page, spec, settings, watch(page))
    return route, before, report, await driver.read_state(page, spec, settings)


@pytest.mark.parametrize("spec", catalog.CATALOG, ids=lambda s: s.id)
async def test_every_setting_is_switched_off_and_only_it(spec, replica, open_page):
    page, handle = await open_page()
    truth_before = replica.admin.get_account(handle)["settings"]
    route, before, report, after = await _turn_off(page, spec, _settings(replica))
    assert (route, before, after) == ("direct", True, False)
    truth = replica.admin.get_account(handle)["settings"]
    for field in truth:
        assert truth[field] is (False if field in truth_fields(spec) else truth_before[field]), field
    assert set(report.fields) == set(spec.api_fields)
    assert len(_posts(replica, handle)) == len(spec.api_fields)


@pytest.mark.parametrize("showing", ["/home", "the setting's page", "the setting's page after a failed read"])
async def test_a_page_a_login_landed_on_is_not_loaded_again(showing, replica, open_page):
    """`landed` (the page the login asked X to land on) saves a second load only when the page is really
    there and drawn from good answers: a login that X sent to its home page instead, or a landing whose
    read of the settings failed ("Something went wrong"), still gets the settings page loaded."""
    spec = catalog.BY_ID["business-partners"]
    failed = showing.endswith("failed read")
    page, handle = await open_page(faults=[{"kind": "went_wrong", "count": 1}] if failed else [])
    landing = driver.Landing(spec.path, watch(page).api_failures)
    await page.goto(replica.base_url + (spec.path if showing.startswith("the") else showing))
    for _ in range(100 if failed else 0):  # the page's read answers after the page itself
        if watch(page).api_failures > landing.api_failures:
            break
        await asyncio.sleep(0.05)
    assert (watch(page).api_failures > landing.api_failures) is failed
    replica.admin.clear_requests()
    route = await driver.open_setting(page, spec, _settings(replica), watch(page), landed=landing)
    assert route == "direct" and page.url.endswith(spec.path)
    loads = [r for r in replica.admin.requests(handle=handle) if r["method"] == "GET" and r["path"] == spec.path]
    assert len(loads) == (0 if showing == "the setting's page" else 1)
    assert await driver.read_state(page, spec, _settings(replica)) is True


@pytest.mark.parametrize("x_navigates", [True, False])
async def test_a_page_x_is_sending_to_its_login_screen_is_told_apart(x_navigates, replica, open_page):
    """X's script sends a page whose session ended to the login screen (app.js on a 401); a reload of
    optout's failed with net::ERR_ABORTED once under load in that situation, most likely before the URL
    showed it. `bound_for_login_page` waits for where the page is going; a page that stays is not bound there."""
    page, handle = await open_page()
    await page.goto(replica.base_url + catalog.BY_ID["business-partners"].path)
    if x_navigates:
        replica.admin.expire_sessions(handle)
        try:
            await page.evaluate("setTimeout(() => location.assign('/i/flow/login'), 300)")
        except PlaywrightError as exc:  # under load, X's own script may already be taking it there
            assert driver.NAVIGATED_AWAY in str(exc)
    assert await bound_for_login_page(page) is x_navigates


class _PageBeingReplaced:
    """A page whose every read fails as Playwright says it: a document replaced mid-read cannot be timed
    from a test, so its message stands in for it."""

    def __init__(self, message: str) -> None:
        self.message = message

    async def evaluate(self, *_args):
        raise PlaywrightError(self.message)


async def test_a_page_replaced_while_it_is_read_is_not_drawn_yet_and_other_failures_still_raise():
    replaced = _PageBeingReplaced("Page.evaluate: Execution context was destroyed, most likely because of a navigation")
    assert await driver._look(replaced) == driver._Look(loading=True)
    with pytest.raises(PlaywrightError, match="has been closed"):
        await driver._look(_PageBeingReplaced("Page.evaluate: Target page, context or browser has been closed"))


async def test_already_off_sends_nothing(replica, open_page):
    spec = catalog.BY_ID["business-partners"]
    page, handle = await open_page(settings={truth_fields(spec)[0]: False})
    await driver.open_setting(page, spec, _settings(replica), watch(page))
    assert await driver.read_state(page, spec, _settings(replica)) is False
    report = await driver.switch_off(page, spec, _settings(replica), watch(page))
    assert not report.clicked and _posts(replica, handle) == []


async def test_grok_personalization_box_is_left_alone(replica, open_page):
    spec = catalog.BY_ID["grok-training"]
    page, handle = await open_page(settings={"allow_xai_personalization": False})
    await _turn_off(page, spec, _settings(replica))
    truth = replica.admin.get_account(handle)["settings"]
    assert truth["allow_xai_data_sharing"] is False and truth["allow_xai_personalization"] is False
    page, handle = await open_page()
    await _turn_off(page, spec, _settings(replica))
    truth = replica.admin.get_account(handle)["settings"]
    assert truth["allow_xai_data_sharing"] is False and truth["allow_xai_personalization"] is True


async def test_single_inferred_box(replica, open_page):
    spec = catalog.BY_ID["inferred-identity"]
    page, handle = await open_page(single_inferred_box=True)
    _, before, report, after = await _turn_off(page, spec, _settings(replica))
    assert (before, after) == (True, False)
    assert report.fields == ["use_cookie_personalization"]
    assert replica.admin.get_account(handle)["settings"]["use_cookie_personalization"] is False


async def test_save_fails_leaves_it_on(replica, open_page):
    spec = catalog.BY_ID["business-partners"]
    page, handle = await open_page(faults=[{"kind": "save_fails"}])
    _, before, report, after = await _turn_off(page, spec, _settings(replica))
    assert (before, after) == (True, True)
    assert report.statuses == [500] and "HTTP 500" in report.problems[0]
    assert replica.admin.get_account(handle)["settings"][truth_fields(spec)[0]] is True


async def test_quiet_revert_is_caught_by_the_reload(replica, open_page):
    spec = catalog.BY_ID["business-partners"]
    page, handle = await open_page(faults=[{"kind": "save_reverts", "after_ms": 300}])
    real_delay = Settings.model_fields["verify_delay_s"].default  # the test is about it: not the tests' 0
    _, before, report, after = await _turn_off(page, spec, _settings(replica, verify_delay_s=real_delay))
    assert report.statuses == [200] and not report.problems
    assert (before, after) == (True, True)
    assert replica.admin.get_account(handle)["settings"][truth_fields(spec)[0]] is True


async def test_moved_page_is_reached_by_the_menu(replica, open_page):
    spec = catalog.BY_ID["business-partners"]
    page, handle = await open_page(faults=[{"kind": "moved", "path": spec.path}])
    route, before, _, after = await _turn_off(page, spec, _settings(replica))
    assert (route, before, after) == ("menu", True, False)
    assert "/privacy_and_safety/" in page.url
    assert replica.admin.get_account(handle)["settings"][truth_fields(spec)[0]] is False


async def test_missing_everywhere_is_not_found(replica, open_page):
    spec = catalog.BY_ID["location-history"]
    page, _ = await open_page(faults=[{"kind": "not_found", "path": spec.path}])
    spec_gone = catalog.SettingSpec("gone", "Gone", catalog.PageSpec("/settings/no_such_page", (
        catalog.Control("x", catalog.Save("settings_json", "x")),)), ("x",))
    with pytest.raises(driver.SettingNotFound):
        await driver.open_setting(page, spec_gone, _settings(replica), watch(page))


@pytest.mark.parametrize("language", ["de", "ja"])
async def test_other_languages(language, replica, open_page):
    spec = catalog.BY_ID["grok-training"]
    page, handle = await open_page(language=language, faults=[{"kind": "moved", "path": spec.path}])
    route, before, _, after = await _turn_off(page, spec, _settings(replica))
    assert (route, before, after) == ("menu", True, False)
    truth = replica.admin.get_account(handle)["settings"]
    assert truth["allow_xai_data_sharing"] is False and truth["allow_xai_personalization"] is True


async def test_cookie_banner_and_welcome_dialog(replica, open_page):
    spec = catalog.BY_ID["business-partners"]
    page, handle = await open_page(cookie_banner=True, welcome_dialog=True,
                                   faults=[{"kind": "moved", "path": spec.path}])
    route, before, _, after = await _turn_off(page, spec, _settings(replica))
    assert (route, before, after) == ("menu", True, False)
    assert replica.admin.get_account(handle)["settings"][truth_fields(spec)[0]] is False


async def test_narrow_layout(replica, open_page):
    spec = catalog.BY_ID["business-partners"]
    page, handle = await open_page(width=600, faults=[{"kind": "moved", "path": spec.path}])
    route, before, _, after = await _turn_off(page, spec, _settings(replica))
    assert (route, before, after) == ("menu", True, False)
    page, handle = await open_page(width=600)
    route, *_ , after = await _turn_off(page, spec, _settings(replica))
    assert (route, after) == ("direct", False)


async def test_something_went_wrong_is_retried(replica, open_page):
    spec = catalog.BY_ID["business-partners"]
    page, handle = await open_page(faults=[{"kind": "went_wrong", "count": 2}])
    route, before, _, after = await _turn_off(page, spec, _settings(replica))
    assert (route, before, after) == ("direct", True, False)


# A changed page: its box now saves another field (the page script renames the field it posts).
_SAVES_THE_WRONG_FIELD = """(() => { const fetch0 = window.fetch;
  window.fetch = (url, opts) => fetch0(url, opts && typeof opts.body === "string" ? {...opts, body: opts.body.replace(
    "allow_sharing_data_for_third_party_personalization=", "allow_ads_personalization=")} : opts); })()"""


async def test_a_box_that_saves_another_field_is_clicked_back_and_ui_changed(replica, open_page):
    spec = catalog.BY_ID["business-partners"]
    other = "allow_ads_personalization"
    page, handle = await open_page()
    await page.add_init_script(_SAVES_THE_WRONG_FIELD)
    await driver.open_setting(page, spec, _settings(replica), watch(page))
    with pytest.raises(UiChanged) as caught:
        await driver.switch_off(page, spec, _settings(replica), watch(page))
    assert f"saved {other} instead of {spec.api_fields[0]}" in caught.value.message
    assert "clicked it back" in caught.value.message and caught.value.outcome == "ui_changed"
    saves = [r for r in replica.admin.requests(handle=handle) if r["method"] == "POST" and r["path"] == SETTINGS_API]
    assert len(saves) == 2  # the wrong save, then the click that put it back
    truth = replica.admin.get_account(handle)["settings"]
    assert truth[other] is True and truth[spec.api_fields[0]] is True  # nothing changed in the end


async def test_x_failing_on_every_retry_is_x_keeps_failing(replica, open_page):
    spec = catalog.BY_ID["business-partners"]
    page, handle = await open_page(faults=[{"kind": "went_wrong"}])  # forever
    with pytest.raises(XKeepsFailing) as caught:
        await driver.open_setting(page, spec, _settings(replica), watch(page))
    assert f"after {driver.RETRIES} reloads" in caught.value.message and caught.value.outcome == "error"
    reads = [r for r in replica.admin.requests(handle=handle) if r["status"] >= 500]
    assert len(reads) >= driver.RETRIES + 1  # the first read and one per reload, all refused
    assert replica.admin.get_account(handle)["settings"][truth_fields(spec)[0]] is True


@pytest.mark.parametrize("style", ["429", "code88"])
async def test_rate_limit_carries_the_reset_time(style, replica, open_page):
    import time

    spec = catalog.BY_ID["business-partners"]
    page, handle = await open_page()
    replica.admin.add_fault({"kind": "rate_limit", "handle": handle, "style": style, "reset_s": 120})
    with pytest.raises(RateLimited) as err:
        await driver.open_setting(page, spec, _settings(replica), watch(page))
    assert err.value.reset_at is not None and 100 < err.value.reset_at - time.time() <= 121
    assert "rate" in err.value.message.lower()


async def test_evidence_screenshot_outlines_the_control(replica, open_page, tmp_path):
    import base64

    from optout.evidence import EvidenceRun

    spec = catalog.BY_ID["grok-training"]
    page, handle = await open_page()
    await driver.open_setting(page, spec, _settings(replica), watch(page))
    run = EvidenceRun(tmp_path, handle)
    keys = list(await driver.read_boxes(page, spec, _settings(replica)))
    outlined = await run.screenshot(page, "before-grok-training", outline=driver.control_locator(page, spec, keys))
    plain = await run.screenshot(page, "plain")

    async def red_pixels(path):
        url = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
        return await page.evaluate(
            """async (url) => { const img = new Image(); img.src = url; await img.decode();
                 const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
                 const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                 const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
                 for (let i = 0; i < d.length; i += 4)
                   if (Math.abs(d[i] - 0xe0) < 8 && Math.abs(d[i+1] - 0x24) < 8 && Math.abs(d[i+2] - 0x5e) < 8) n++;
                 return n; }""", url)

    assert await red_pixels(outlined) > 500
    assert await red_pixels(plain) == 0  # the outline is taken off again
    assert oct(outlined.stat().st_mode & 0o777) == "0o600"


# ---- the Grok preferences are GraphQL (x-facts, "2026 update") ----------------------------------------


def _graphql(replica, handle, operation):
    return [r for r in replica.admin.requests(handle=handle) if r["path"].endswith("/" + operation)]


async def test_grok_saves_are_graphql_mutations_matched_by_name(replica, open_page):
    """The click posts XaiDataSharingSettingsMutation (its query id is this replica start's random one);
    the driver names what was saved by operation and variable, and only that preference changed."""
    spec = catalog.BY_ID["grok-training"]
    page, handle = await open_page(grok_memory_control=True)
    truth_before = replica.admin.get_account(handle)["settings"]
    _, before, report, after = await _turn_off(page, spec, _settings(replica))
    assert (before, after) == (True, False)
    assert report.fields == ["XaiDataSharingSettingsMutation.allowXaiDataSharing"] and not report.problems
    [mutation] = _graphql(replica, handle, "XaiDataSharingSettingsMutation")
    query_id = mutation["path"].split("/")[-2]
    assert query_id == replica.admin.graphql_query_ids()["XaiDataSharingSettingsMutation"]
    truth = replica.admin.get_account(handle)["settings"]
    assert truth == {**truth_before, "allow_xai_data_sharing": False}  # memory and personalization untouched
    assert _graphql(replica, handle, "GrokSettingsScreenQuery")  # read through GraphQL, not settings.json


async def test_grok_personalization_is_its_own_setting(replica, open_page):
    spec = catalog.BY_ID["grok-personalization"]
    page, handle = await open_page()
    _, before, report, after = await _turn_off(page, spec, _settings(replica))
    assert (before, after, report.fields) == (True, False, ["XaiPersonalizationSettingsMutation.allowXaiPersonalization"])
    truth = replica.admin.get_account(handle)["settings"]
    assert truth["allow_xai_personalization"] is False and truth["allow_xai_data_sharing"] is True
    assert "grok-personalization" not in catalog.DEFAULT_IDS
    assert "grok-personalization" in [s.id for s in catalog.select(everything=True)]


async def test_a_graphql_save_refused_with_errors_in_a_200_is_a_problem(replica, open_page):
    spec = catalog.BY_ID["grok-training"]
    page, handle = await open_page(faults=[{"kind": "save_fails"}])
    _, before, report, after = await _turn_off(page, spec, _settings(replica))
    assert (before, after) == (True, True)
    assert report.statuses == [200] and "error 131" in report.problems[0]
    assert replica.admin.get_account(handle)["settings"]["allow_xai_data_sharing"] is True


async def test_a_failed_graphql_read_is_retried(replica, open_page):
    spec = catalog.BY_ID["grok-training"]
    page, handle = await open_page(faults=[{"kind": "went_wrong", "count": 2}])
    route, before, _, after = await _turn_off(page, spec, _settings(replica))
    assert (route, before, after) == ("direct", True, False)
    reads = _graphql(replica, handle, "GrokSettingsScreenQuery")
    assert len(reads) >= 3  # two failed reads (answered 200 with errors[]), then the good ones


async def test_a_rate_limited_graphql_mutation_carries_the_reset_time(replica, open_page):
    spec = catalog.BY_ID["grok-training"]
    page, handle = await open_page(faults=[{"kind": "rate_limit", "path": "/i/api/graphql/XaiDataSharingSettingsMutation",
                                            "reset_s": 120}])
    await driver.open_setting(page, spec, _settings(replica), watch(page))
    with pytest.raises(RateLimited) as err:
        await driver.switch_off(page, spec, _settings(replica), watch(page))
    assert err.value.reset_at is not None
    assert replica.admin.get_account(handle)["settings"]["allow_xai_data_sharing"] is True
