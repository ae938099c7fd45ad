"""The history database: schema by migrations, results committed one by one, resumable queries, policy
versions, and a file that stays sound when its writer is killed mid-transaction."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from optout import store as store_module
from optout.models import AccountOutcome, AccountResult, Mode, SettingOutcome, SettingResult
from optout.store import MIGRATIONS, Store

ROOT = Path(__file__).resolve().parents[1]


def _result(handle: str, n_settings: int = 2, outcome=AccountOutcome.OK) -> AccountResult:
    settings = [SettingResult(setting=f"s{i}", before=True, after=False, changed=True, verified_after_reload=True,
                              outcome=SettingOutcome.TURNED_OFF) for i in range(n_settings)]
    return AccountResult(handle=handle, mode=Mode.APPLY, outcome=outcome, settings=settings,
                         evidence_dir=f"/ev/{handle}", receipt=f"/ev/{handle}/receipt.json")


def test_fresh_database_is_migrated_in_wal_mode(tmp_path):
    with Store(tmp_path / "h.sqlite3") as db:
        assert db.schema_version == len(MIGRATIONS)
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "account_results", "setting_outcomes", "policy_versions", "meta"} <= tables
    with Store(tmp_path / "h.sqlite3") as db:  # a second open applies nothing twice
        assert db.schema_version == len(MIGRATIONS)


def test_a_new_migration_step_applies_on_top(tmp_path, monkeypatch):
    with Store(tmp_path / "h.sqlite3") as db:
        run_id = db.start_run("run", "http://x")
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS + ("ALTER TABLE runs ADD COLUMN note TEXT",))
    with store_module.Store(tmp_path / "h.sqlite3") as db:
        assert db.schema_version == len(MIGRATIONS) + 1
        assert db.run(run_id) is not None  # the data survived the upgrade
        assert "note" in {r[1] for r in db.conn.execute("PRAGMA table_info(runs)")}


def test_results_history_and_resume_queries(tmp_path):
    with Store(tmp_path / "h.sqlite3") as db:
        first = db.start_run("batch", "http://x")
        db.record_result(first, _result("alice"))
        db.record_result(first, _result("bob", outcome=AccountOutcome.NEEDS_HUMAN, n_settings=0))
        assert db.run(first).finished_at is None
        assert [r.handle for r in db.run_results(first)] == ["alice", "bob"]
        db.finish_run(first, 3)
        assert db.run(first).finished_at is not None and db.run(first).exit_code == 3
        second = db.start_run("recheck", "http://x")
        db.record_result(second, _result("alice", n_settings=1))
        assert db.run(second).command == "recheck" and db.run(first).command == "batch"

        everything = db.history()
        assert [(e.run_id, e.handle) for e in everything] == [(second, "alice"), (first, "bob"), (first, "alice")]
        alice = db.history("alice", limit=1)
        assert len(alice) == 1 and alice[0].command == "recheck" and alice[0].settings[0].outcome == "turned_off"
        assert db.applied_settings("alice") == ["s0"]

        rebuilt = db.run_results(first)  # what a resumed batch reports for the accounts done before
        assert [r.model_dump(exclude={"started_at", "finished_at"}) for r in rebuilt] == [
            r.model_dump(exclude={"started_at", "finished_at"}) for r in
            (_result("alice"), _result("bob", outcome=AccountOutcome.NEEDS_HUMAN, n_settings=0))]
        assert db.applied_settings("nobody") == []
        third = db.start_run("recheck", "http://x")  # a recheck whose login failed read no setting...
        db.record_result(third, _result("alice", outcome=AccountOutcome.LOGIN_FAILED, n_settings=0))
        assert db.applied_settings("alice") == ["s0"]  # ...so the next one still re-checks what alice chose


def test_policy_versions_are_stored_once_and_ordered_by_last_seen(tmp_path):
    with Store(tmp_path / "h.sqlite3") as db:
        a, new_a = db.record_policy(text_hash="a" * 64, effective_date="2026-01-15", effective_label="January 15, 2026",
                                    url="u", text="A")
        b, new_b = db.record_policy(text_hash="b" * 64, effective_date=None, effective_label="1. Dezember 2026",
                                    url="u", text="B")
        again, new_again = db.record_policy(text_hash="a" * 64, effective_date="2026-01-15",
                                            effective_label="January 15, 2026", url="u", text="A")
        assert (new_a, new_b, new_again) == (True, True, False)
        assert again.first_seen == a.first_seen and again.last_seen > a.last_seen
        assert [p.text for p in db.policies(5)] == ["A", "B"]  # A is current again
        assert db.conn.execute("SELECT count(*) FROM policy_versions").fetchone()[0] == 2


WRITER = """
import sys
from optout.models import AccountOutcome, AccountResult, Mode, SettingOutcome, SettingResult
from optout.store import Store
db = Store(__import__("pathlib").Path(sys.argv[1]))
run = db.start_run("batch", "http://x")
i = 0
while True:
    settings = [SettingResult(setting=f"s{k}", outcome=SettingOutcome.ALREADY_OFF, message="x" * 2000)
                for k in range(5)]
    db.record_result(run, AccountResult(handle=f"h{i}", mode=Mode.APPLY, outcome=AccountOutcome.OK,
                                        settings=settings))
    print(f"{run} h{i}", flush=True)
    i += 1
"""


def test_database_survives_writers_killed_mid_write(tmp_path):
    """SIGKILL a writer at random moments, again and again: the file stays sound, every result the writer
    reported as committed is there, and no result is half-written."""
    path = tmp_path / "h.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reported: list[tuple[int, str]] = []
    for round_ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
        first = proc.stdout.readline()  # it is writing now
        time.sleep(0.05 + 0.037 * round_)
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate()
        for line in [first, *rest.splitlines()]:
            if line.strip():
                run, handle = line.split()
                reported.append((int(run), handle))
    assert len(reported) > 6
    with Store(path) as db:
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {(r["run_id"], r["handle"]) for r in db.conn.execute("SELECT run_id, handle FROM account_results")}
        assert set(reported) <= stored
        partial = db.conn.execute(
            "SELECT a.id FROM account_results a LEFT JOIN setting_outcomes s ON s.result_id = a.id "
            "GROUP BY a.id HAVING count(s.id) != 5").fetchall()
        assert partial == []
    with closing(sqlite3.connect(path)) as check:  # a plain client agrees
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
