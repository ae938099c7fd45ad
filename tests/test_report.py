"""The HTML report: built from real receipts and screenshots, opened in Chromium with no server, every
image loaded, tampering shown, outcome filter working."""

from __future__ import annotations

import subprocess
import sys

from optout.evidence import EvidenceRun, Receipt, SettingRecord, write_private
from optout.models import AccountOutcome, Mode, SettingOutcome, utcnow
from optout.report import build_report, latest_receipts


def _evidence(root, handle, page, outcome, colour, mode=Mode.APPLY, setting_outcome=SettingOutcome.TURNED_OFF):
    run = EvidenceRun(root, handle)
    page.set_content(f"<body style='background:{colour}'><h1>{handle}</h1><input type=checkbox checked></body>")
    for name in ("before-business-partners.png", "after-business-partners.png"):
        write_private(run.dir / name, page.screenshot())
    setting = SettingRecord(
        setting="business-partners", before=True, after=False, changed=True, verified_after_reload=True,
        outcome=setting_outcome, before_screenshot="before-business-partners.png",
        after_screenshot="after-business-partners.png",
    )
    receipt = Receipt(tool_version="test", handle=handle, base_url="http://replica", mode=mode,
                      outcome=outcome, started_at=utcnow(), settings=[setting])
    return run.write_receipt(receipt)


def test_report_renders_with_all_images(tmp_path, page):
    root = tmp_path / "evidence"
    _evidence(root, "alice", page, AccountOutcome.OK, "#fff")
    _evidence(root, "bob", page, AccountOutcome.OK, "#eef")
    _evidence(root, "bob", page, AccountOutcome.VERIFY_FAILED, "#fee")  # bob's newest run wins
    receipts = latest_receipts(root)
    assert [p.parent.parent.name for p in receipts] == ["alice", "bob"]

    out = build_report(receipts, tmp_path / "out" / "report.html")
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    page.goto(out.as_uri())
    images = page.locator("img.shot")
    assert images.count() == 4
    assert all(images.nth(i).evaluate("i => i.complete && i.naturalWidth > 0") for i in range(4))
    assert page.locator("section[data-outcome=verify_failed]").count() == 1
    assert page.get_by_text("evidence NOT verified").count() == 0

    page.locator(".filters button[data-filter=verify_failed]").click()
    assert page.locator("section.account:visible").count() == 1
    assert page.locator("section.account:visible h2").inner_text().startswith("@bob")


def test_report_links_images_and_flags_tampering(tmp_path, page):
    root = tmp_path / "evidence"
    receipt = _evidence(root, "carla", page, AccountOutcome.OK, "#fff")
    (receipt.parent / "after-business-partners.png").write_bytes(b"\x89PNG not the original")
    out = build_report(latest_receipts(root), tmp_path / "report.html", embed=False)
    assert "data:image/png" not in out.read_text()
    page.goto(out.as_uri())
    assert page.locator("img.shot").first.evaluate("i => i.complete && i.naturalWidth > 0")
    assert page.get_by_text("evidence NOT verified").count() == 1
    assert "after-business-partners.png was changed" in page.locator("section.account").inner_text()


def test_a_receipt_rewritten_since_the_history_recorded_it_is_not_verified(tmp_path, page):
    import hashlib

    root = tmp_path / "evidence"
    receipt = _evidence(root, "dora", page, AccountOutcome.VERIFY_FAILED, "#fff")
    recorded = {str(receipt): hashlib.sha256(receipt.read_bytes()).hexdigest()}
    honest = build_report(latest_receipts(root), tmp_path / "honest.html", recorded=recorded)
    assert "evidence NOT verified" not in honest.read_text()
    receipt.write_text(receipt.read_text().replace('"verify_failed"', '"ok"'))  # a prettier story
    out = build_report(latest_receipts(root), tmp_path / "report.html", recorded=recorded)
    page.goto(out.as_uri())
    assert page.get_by_text("evidence NOT verified").count() == 1
    assert "the receipt differs from the one the history recorded" in page.locator("section.account").inner_text()


def test_read_only_latest_run_still_shows_the_last_opt_out(tmp_path, page):
    """After `check`, the report shows the check and, below it, the before/after of the opt-out itself."""
    root = tmp_path / "evidence"
    _evidence(root, "dora", page, AccountOutcome.OK, "#fff")
    _evidence(root, "dora", page, AccountOutcome.OK, "#efe", mode=Mode.CHECK)
    _evidence(root, "erin", page, AccountOutcome.OK, "#fff", mode=Mode.CHECK)  # never applied
    page.goto(build_report(latest_receipts(root), tmp_path / "report.html").as_uri())
    dora, erin = page.locator("#acct-dora"), page.locator("#acct-erin")
    assert dora.locator("h3").inner_text().startswith("Last opt-out run")
    assert dora.locator("img.shot").count() == 4
    assert erin.locator("h3").count() == 0 and erin.locator("img.shot").count() == 2


def test_the_last_opt_out_is_found_across_pruned_runs(tmp_path, page):
    from optout.prune import prune

    root = tmp_path / "evidence"
    _evidence(root, "fay", page, AccountOutcome.OK, "#fff")
    for colour in ("#eef", "#efe"):  # two routine checks: the older one gets pruned
        _evidence(root, "fay", page, AccountOutcome.OK, colour, mode=Mode.CHECK, setting_outcome=SettingOutcome.ALREADY_OFF)
    assert len(prune(root, 0).removed) == 1
    page.goto(build_report(latest_receipts(root), tmp_path / "report.html").as_uri())
    fay = page.locator("#acct-fay")
    assert fay.locator("h3").inner_text().startswith("Last opt-out run")
    assert fay.locator("img.shot").count() == 4 and "evidence NOT verified" not in fay.inner_text()


def test_report_command_without_evidence_is_bad_input(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "optout", "report", "--evidence", str(tmp_path / "none")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "no evidence" in proc.stderr.lower()


def test_report_command_writes_the_page(tmp_path, page):
    """`optout report` on real evidence: exit 0, says how many accounts, and the page names each."""
    import os

    from conftest import run_in_process

    root = tmp_path / "evidence"
    _evidence(root, "alice", page, AccountOutcome.OK, "#fff")
    _evidence(root, "bob", page, AccountOutcome.VERIFY_FAILED, "#fee")
    env = {**os.environ, "OPTOUT_STATE_DIR": str(tmp_path / "state"), "OPTOUT_DATA_DIR": str(tmp_path / "data"),
           "OPTOUT_CONFIG_FILE": str(tmp_path / "none.toml")}
    out = tmp_path / "report.html"
    done = run_in_process(["report", "--evidence", str(root), "--out", str(out), "--link"], input=None, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Report of 2 account(s): {out}"
    page.goto(out.as_uri())
    assert page.locator("section.account").count() == 2
    assert page.locator("section[data-outcome=verify_failed] h2").inner_text().startswith("@bob")
