"""`optout doctor`: each line OK or what to do; exit 5 when the browser or the keyring does not work."""

from __future__ import annotations

import json

import pytest

from optout.browser import find_browser
from optout.config import load_settings


@pytest.fixture(autouse=True)
def own_browser(optout_env):
    """The doctor checks the browser optout would launch, not the session's shared one."""
    optout_env.env["OPTOUT_BROWSER_ENDPOINT"] = ""


def test_all_good(optout_env):
    result = optout_env.run("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("OK") and "browser" in line and "Chromium" in line for line in lines)
    assert any(line.startswith("OK") and "keyring" in line and "SecretService" in line for line in lines)
    assert any("base URL" in line and optout_env.base_url in line and line.startswith("OK") for line in lines)


def test_json_lists_every_check(optout_env):
    report = json.loads(optout_env.run("doctor", "--json").stdout)
    names = [c["name"] for c in report["checks"]]
    assert report["ok"] is True
    assert names[:2] == ["browser", "keyring"] and {"data dir", "state dir", "evidence dir", "base URL"} <= set(names)
    data_dir = next(c for c in report["checks"] if c["name"] == "data dir")
    assert optout_env.env["OPTOUT_DATA_DIR"] in data_dir["detail"]
    # the keyring probe leaves nothing behind in the store
    assert json.loads(optout_env.run("accounts", "list", "--json").stdout) == []


def test_evidence_size_suggests_pruning_only_when_large_and_unbounded(optout_env, tmp_path):
    from optout.doctor import check_evidence_size

    assert check_evidence_size(load_settings(evidence_dir=tmp_path / "none")).detail == "no evidence yet"
    run = tmp_path / "ev" / "alice" / "20260101T000000.000000Z"
    run.mkdir(parents=True)
    (run / "receipt.json").write_text("{}")
    (run / "before-x.png").write_bytes(b"x" * 5000)
    unbounded = check_evidence_size(load_settings(evidence_dir=tmp_path / "ev"), large_bytes=4000)
    assert not unbounded.ok and not unbounded.required and "prune_after_days" in unbounded.fix
    assert unbounded.detail == "1 run(s), 0.0 MB; everything kept"
    pruned = check_evidence_size(load_settings(evidence_dir=tmp_path / "ev", prune_after_days=90), large_bytes=4000)
    assert pruned.ok and pruned.detail.endswith("routine runs pruned after 90 day(s)")
    small = check_evidence_size(load_settings(evidence_dir=tmp_path / "ev"))
    assert small.ok


def test_browser_only_checks_just_the_browser(optout_env):
    result = optout_env.run("doctor", "--browser-only", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and [c["name"] for c in report["checks"]] == ["browser"]
    assert str(find_browser(load_settings()).path) in report["checks"][0]["detail"]


@pytest.mark.parametrize("args", [("doctor",), ("doctor", "--browser-only")])
def test_missing_browser_is_exit_5_with_what_to_do(args, optout_env, tmp_path):
    result = optout_env.run(*args, extra_env={"OPTOUT_BROWSER": str(tmp_path / "no-such-chrome")})
    assert result.returncode == 5
    assert "FAIL browser" in result.stdout and "to fix:" in result.stdout and "apt-get install chromium" in result.stdout


def test_broken_keyring_is_exit_5_and_names_the_backend(optout_env):
    result = optout_env.run("doctor", "--json", extra_env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    report = json.loads(result.stdout)
    keyring_check = next(c for c in report["checks"] if c["name"] == "keyring")
    assert result.returncode == 5 and report["ok"] is False
    assert keyring_check["ok"] is False and "keyring.backends.fail.Keyring" in keyring_check["detail"]
    assert "PYTHON_KEYRING_BACKEND" in keyring_check["fix"]


def test_unreachable_base_url_is_a_warning_not_a_failure(optout_env):
    result = optout_env.run("doctor", extra_env={"OPTOUT_BASE_URL": "http://127.0.0.1:9"})
    assert result.returncode == 0
    assert any(line.startswith("WARN base URL") for line in result.stdout.splitlines())


def test_a_configured_headless_shell_is_named_with_what_to_do(optout_env, tmp_path):
    """X refuses logins from Chromium's headless shell (its client hints say HeadlessChrome): the doctor
    fails the browser check for one, by the names it ships under."""
    shell = tmp_path / "chromium-headless-shell"
    shell.write_text("#!/bin/sh\necho 'Chromium 156.0.8078.114'\n")
    shell.chmod(0o755)
    result = optout_env.run("doctor", "--browser-only", extra_env={"OPTOUT_BROWSER": str(shell)})
    said = " ".join(result.stdout.split())
    assert result.returncode == 5, said
    assert "headless shell" in said and "HeadlessChrome" in said and "OPTOUT_BROWSER" in said
