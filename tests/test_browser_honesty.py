"""optout's browser presents as the ordinary Chromium it is, and the replica, like X, refuses one that
announces automation (with the very answer a wrong password gets).

The refusal side is checked on the replica's own truth (the account's login history names the signals
it saw); the honest side by what pages, workers and request headers really see in optout's browser."""

from __future__ import annotations

import uuid

import psutil
import pytest
from playwright.async_api import async_playwright

from optout.browser import OPTOUT_DISABLED_FEATURES, find_browser, open_browser
from optout.config import load_settings


WHAT_A_PAGE_SEES = """async () => {
  const brands = (n) => ((n.userAgentData && n.userAgentData.brands) || []).map((b) => b.brand);
  const src = "postMessage({ua: navigator.userAgent, brands: ((navigator.userAgentData && navigator.userAgentData.brands) || []).map((b) => b.brand), langs: Array.from(navigator.languages)})";
  const worker = await new Promise((resolve) => {
    const w = new Worker(URL.createObjectURL(new Blob([src], {type: "text/javascript"})));
    w.onmessage = (e) => resolve(e.data);
  });
  const hints = await navigator.userAgentData.getHighEntropyValues(
    ["architecture", "bitness", "uaFullVersion", "fullVersionList"]);
  return {webdriver: navigator.webdriver, ua: navigator.userAgent, brands: brands(navigator), hints,
          langs: Array.from(navigator.languages), worker};
}"""


async def _seen(context, url: str) -> tuple[dict, dict]:
    page = await context.new_page()
    async with page.expect_request(lambda r: r.url.rstrip("/") == url.rstrip("/")) as info:
        await page.goto(url)
    headers = await (await info.value).all_headers()
    return await page.evaluate(WHAT_A_PAGE_SEES), headers


@pytest.mark.asyncio(loop_scope="module")
async def test_optout_browser_announces_no_automation(replica, monkeypatch):
    monkeypatch.delenv("OPTOUT_BROWSER_ENDPOINT", raising=False)  # optout's own launch, not the shared browser
    settings = load_settings(base_url=replica.base_url, locale="de-DE")
    async with open_browser(settings) as browser:
        context = await browser.new_context()
        seen, headers = await _seen(context, replica.base_url + "/")
        await context.close()
        plain = await browser.browser.new_context()  # no user agent of optout's: Chromium's own hints
        own, _ = await _seen(plain, replica.base_url + "/")
        await plain.close()
        switches = _disable_features_switches()
    assert seen["webdriver"] is False
    for ua in (seen["ua"], seen["worker"]["ua"], headers["user-agent"]):
        assert "Headless" not in ua and f"Chrome/{browser.version.split('.')[0]}." in ua
    assert not [b for b in seen["brands"] + seen["worker"]["brands"] if "Headless" in b]
    assert "Chromium" in seen["brands"]  # the page's client hints are intact, not blanked
    # The page's high-entropy client hints: Playwright rebuilds them with the user agent, and they must
    # be what Chromium itself says (they are on x86-64; README, Browsers, says where not). A --user-agent
    # launch switch would blank architecture, bitness and the full version list.
    assert seen["hints"] == own["hints"] and seen["hints"]["architecture"] and seen["hints"]["fullVersionList"]
    assert "Headless" not in headers.get("sec-ch-ua", "") and "Chromium" in headers["sec-ch-ua"]
    assert seen["langs"] == seen["worker"]["langs"] == ["de-DE"]
    assert headers["accept-language"].split(",")[0] == "de-DE"
    # Chromium obeys only the last --disable-features: optout's must keep every feature Playwright's
    # own switch (passed first) turns off, and add its own.
    assert len(switches) >= 2
    effective = switches[-1]
    for earlier in switches[:-1]:
        assert earlier <= effective, f"Playwright also disables {sorted(earlier - effective)}"
    assert set(OPTOUT_DISABLED_FEATURES) <= effective


@pytest.mark.asyncio(loop_scope="module")
async def test_a_configured_headless_shell_is_warned_about_at_launch(replica, monkeypatch, tmp_path, capsys):
    """optout never picks a headless shell itself; one configured by hand still runs, with the warning
    that X refuses logins from it. (A full Chromium under the shell's name stands in for it here.)"""
    monkeypatch.delenv("OPTOUT_BROWSER_ENDPOINT", raising=False)
    shell = tmp_path / "chromium-headless-shell"
    shell.symlink_to(find_browser(load_settings()).path)
    async with open_browser(load_settings(base_url=replica.base_url, browser_path=shell)):
        pass
    said = " ".join(capsys.readouterr().err.split())
    assert f"{shell} is a headless shell" in said and "HeadlessChrome" in said and "X refuses logins" in said


def _disable_features_switches() -> list[set[str]]:
    """The --disable-features switches of the Chromium this test process launched, in order."""
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = proc.cmdline()
        except psutil.Error:
            continue
        if "--remote-debugging-pipe" in cmdline and not any(a.startswith("--type=") for a in cmdline):
            return [set(a.split("=", 1)[1].split(",")) for a in cmdline if a.startswith("--disable-features=")]
    raise AssertionError("optout's Chromium process was not found")


@pytest.mark.asyncio(loop_scope="module")
async def test_replica_refuses_a_browser_that_announces_automation(replica):
    """A plain Playwright Chromium (navigator.webdriver true, HeadlessChrome) typing the right password
    gets X's wrong-password answer; the account's login history says why."""
    replica.admin.reset()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = await browser.new_page()
        await page.goto(replica.base_url + "/i/flow/login")
        await page.locator('input[autocomplete="username"]').fill("alice")
        await page.locator('input[autocomplete="username"]').press("Enter")
        await page.locator('input[name="password"]').fill("pw-alice-7Gq2")
        async with page.expect_response(lambda r: "enter_password" in (r.request.post_data or "")) as answer:
            await page.locator('[data-testid="LoginForm_Login_Button"]').click()
        body = await (await answer.value).json()
        await browser.close()
    assert body == {"errors": [{"code": 399, "message": "Wrong password!"}]}
    record = replica.admin.get_account("alice")["logins"][-1]
    assert record["outcome"] == "refused_automation"
    assert "navigator.webdriver is true" in record["automation"]
    assert any("Headless" in signal for signal in record["automation"])
    assert replica.admin.get_account("alice")["live_sessions"] == 0


def test_a_refused_login_names_both_causes_and_both_ways_out(optout_env, fresh_replica, tmp_path):
    """optout driving a browser that announces automation (a remote Chromium started with Playwright's
    --enable-automation): X answers as for a wrong password; optout tries the password once, then says
    it may be either, with both ways in. The replica's login history is the judge of what happened."""
    import re
    import subprocess

    from optout.browser import LAUNCH_ARGS, find_browser

    handle, password = "flag_" + uuid.uuid4().hex[:6], "pw-" + uuid.uuid4().hex[:12]
    fresh_replica.admin.add_account({"handle": handle, "password": password})
    assert optout_env.run("accounts", "add", handle, "--password-stdin", input=password + "\n").returncode == 0
    chromium = subprocess.Popen(
        [str(find_browser(load_settings()).path), "--headless", "--enable-automation", "--no-sandbox",
         *[a for a in LAUNCH_ARGS if "AutomationControlled" not in a], "--remote-debugging-port=0",
         f"--user-data-dir={tmp_path / 'flagged'}", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        endpoint = next(f"http://{m.group(1)}" for line in chromium.stderr
                        if (m := re.search(r"DevTools listening on ws://([^/]+)/", line)))
        chromium.stderr.close()
        result = optout_env.run("login", handle, extra_env={"OPTOUT_BROWSER_ENDPOINT": endpoint})
    finally:
        chromium.kill()
        chromium.wait()
    said = " ".join(result.stderr.split())
    assert result.returncode == 1
    assert "tried once" in said and "wrong password" in said and "distrusts" in said
    assert f"optout session import {handle} --from-browser" in said and f"optout login {handle} --interactive" in said
    logins = fresh_replica.admin.get_account(handle)["logins"]
    assert [(r["password_tried"], r["outcome"]) for r in logins] == [(True, "refused_automation")]
    assert "navigator.webdriver is true" in logins[0]["automation"]
