"""A control X shows that optout does not know is news: in the printed output, the HTML report and
recheck's notification, told once per new label, never changing the exit code."""

from __future__ import annotations

from datetime import datetime, timezone

from optout import notify, observations
from optout.config import load_settings
from optout.evidence import EvidenceRun, Receipt, SettingRecord
from optout.models import AccountOutcome, AccountResult, Mode, Observation, SettingOutcome, SettingResult
from optout.render import setting_notes
from optout.report import build_report
from optout.store import Store

PAGE = "/settings/data_sharing_with_business_partners"
NEW = "Allow X to share your posts with AI partners to train their models"


def _result(handle="alice", label=NEW) -> AccountResult:
    setting = SettingResult(setting="business-partners", outcome=SettingOutcome.ALREADY_OFF, before=False,
                            after=False, identified_by={"partners": "text"},
                            observations=[Observation(page=PAGE, label=label, state=True)])
    return AccountResult(handle=handle, mode=Mode.CHECK, outcome=AccountOutcome.OK, settings=[setting])


def test_recheck_tells_a_new_label_once_per_site(tmp_path):
    settings = load_settings(state_dir=tmp_path, data_dir=tmp_path / "data", base_url="http://x.test")
    with Store.open(settings) as store:
        first = observations.news(store, settings.base_url, [_result(), _result("bob")])
        assert len(first) == 1 and NEW in first[0] and PAGE in first[0]
        assert observations.news(store, settings.base_url, [_result()]) == []  # told already
        assert observations.news(store, settings.base_url, [_result(label=NEW.upper() + "!")]) == []  # same label
        assert len(observations.news(store, settings.base_url, [_result(label="Another new one")])) == 1
        assert len(observations.news(store, "http://other.test", [_result()])) == 1
    message = notify.compose([_result()], news=first)
    assert message is not None and "does not know" in message.body and message.level == notify.Level.WARNING
    assert notify.compose([_result()], news=[]) is None  # nothing new: no message
    assert _result().outcome.exit_code == 0


def test_output_and_html_report_show_the_observation(tmp_path):
    assert any("does not know" in line and NEW in line for line in setting_notes(_result()))
    run = EvidenceRun(tmp_path / "evidence", "alice")
    record = SettingRecord(**_result().settings[0].model_dump(), at=datetime.now(timezone.utc))
    receipt = run.write_receipt(Receipt(tool_version="t", handle="alice", base_url="http://x.test", mode=Mode.CHECK,
                                        outcome=AccountOutcome.OK, started_at=datetime.now(timezone.utc),
                                        settings=[record]))
    html = build_report([receipt], tmp_path / "report.html").read_text(encoding="utf-8")
    assert NEW in html and "identified by partners: text" in html
