"""The scheduled recheck: the generated systemd units, crontab line, launchd plist and schtasks command,
checked by the tools that read them; and a real install/remove into a throwaway crontab."""

from __future__ import annotations

import json
import plistlib
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from croniter import croniter

from optout import schedule
from optout.config import load_settings
from optout.errors import BadInput

TOKEN = "tok3n-should-never-appear"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # systemd_dir() lands here
    return load_settings(base_url="http://127.0.0.1:8765", state_dir=tmp_path / "state",
                         data_dir=tmp_path / "data", notify_urls=[f"json://user:{TOKEN}@127.0.0.1/hook"])


def test_every_presets_and_cron_expressions():
    assert schedule.parse_every("daily") == "17 4 * * *"
    assert schedule.parse_every("weekly") == "17 4 * * 1"
    assert schedule.parse_every("30 6 * * 1-5") == "30 6 * * 1-5"
    for bad in ("hourly-ish", "61 * * * *", "* * * * * *", ""):
        with pytest.raises(BadInput):
            schedule.parse_every(bad)


def _all_text(plan: schedule.Plan) -> str:
    return json.dumps(plan.model_dump(mode="json"))


@pytest.mark.parametrize("backend", schedule.BACKENDS)
def test_every_backend_runs_this_optout_with_this_users_settings_and_no_secret(settings, backend):
    plan = schedule.plan(settings, "weekly", backend)
    text = _all_text(plan)
    assert TOKEN not in text and "notify" not in text.lower()
    assert shlex.quote(sys.executable) in text or json.dumps(sys.executable)[1:-1] in text
    assert "recheck --all" in text or '"recheck", "--all"' in text
    assert "127.0.0.1:8765" in text  # the base URL this user set


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
@pytest.mark.parametrize("every", ["daily", "weekly", "*/20 * * * *", "30 6 * * 1-5", "0 9 1,15 * *"])
def test_systemd_units_verify_and_fire_when_cron_would(settings, tmp_path, every):
    plan = schedule.plan(settings, every, "systemd")
    units = tmp_path / "units"
    units.mkdir()
    for path, content in plan.files.items():
        (units / Path(path).name).write_text(content)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    verify = subprocess.run(["systemd-analyze", "verify", "--user", str(units / "optout-recheck.timer"),
                             str(units / "optout-recheck.service")], capture_output=True, text=True,
                            env={"XDG_RUNTIME_DIR": str(runtime), "PATH": "/usr/bin:/bin"})
    assert verify.returncode == 0, verify.stderr
    timer = (units / "optout-recheck.timer").read_text()
    on_calendar = re.search(r"^OnCalendar=(.+)$", timer, re.M).group(1)
    elapse = subprocess.run(["systemd-analyze", "calendar", "--iterations=3", on_calendar],
                            capture_output=True, text=True, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})
    assert elapse.returncode == 0, elapse.stderr
    systemd_times = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", elapse.stdout)
    it = croniter(plan.cron, datetime.utcnow().replace(microsecond=0))
    cron_times = [it.get_next(datetime).strftime("%Y-%m-%d %H:%M:%S") for _ in range(3)]
    assert systemd_times == cron_times


def test_systemd_refuses_what_it_would_read_differently(settings):
    with pytest.raises(BadInput, match="day of month and weekday"):
        schedule.plan(settings, "0 9 1 * 1", "systemd")


@pytest.mark.parametrize("every, expected", [
    ("weekly", [{"Minute": 17, "Hour": 4, "Weekday": 1}]),
    ("0 9 * * 1,5", [{"Minute": 0, "Hour": 9, "Weekday": 1}, {"Minute": 0, "Hour": 9, "Weekday": 5}]),
    ("*/30 * * * *", [{"Minute": 0}, {"Minute": 30}]),
])
def test_launchd_plist_parses(settings, every, expected):
    plan = schedule.plan(settings, every, "launchd")
    (path, content), = plan.files.items()
    assert path.endswith("Library/LaunchAgents/optout.recheck.plist")
    plist = plistlib.loads(content.encode())
    assert plist["Label"] == "optout.recheck"
    assert plist["ProgramArguments"] == [sys.executable, "-m", "optout", "recheck", "--all"]
    assert plist["StartCalendarInterval"] == expected
    assert plist["EnvironmentVariables"]["OPTOUT_BASE_URL"] == "http://127.0.0.1:8765"
    assert plist["StandardOutPath"].startswith(str(settings.log_dir))


@pytest.mark.parametrize("every, trigger", [
    ("daily", ["/SC", "DAILY", "/ST", "04:17"]),
    ("30 6 * * 1-5", ["/SC", "WEEKLY", "/D", "MON,TUE,WED,THU,FRI", "/ST", "06:30"]),
    ("*/15 * * * *", ["/SC", "MINUTE", "/MO", "15"]),
])
def test_schtasks_command(settings, every, trigger):
    (command,) = schedule.plan(settings, every, "schtasks").commands
    assert command[:5] == ["schtasks", "/Create", "/F", "/TN", "optout-recheck"]  # /F: install twice, one task
    assert command[7:] == trigger
    assert command[6] == subprocess.list2cmdline(
        [sys.executable, "-m", "optout", "--base-url", "http://127.0.0.1:8765", "recheck", "--all"])


def test_schtasks_refuses_what_it_cannot_express(settings):
    with pytest.raises(BadInput, match="Task Scheduler"):
        schedule.plan(settings, "0 9 1,15 * *", "schtasks")


def test_crontab_line_parses_and_its_command_runs(settings, tmp_path):
    line = schedule.crontab_line(settings, "*/10 * * * *")
    assert line.endswith(schedule.CRON_TAG)
    fields = line.split()
    assert croniter.is_valid(" ".join(fields[:5])) and " ".join(fields[:5]) == "*/10 * * * *"
    # The command part is what cron hands to /bin/sh: run it (asking only for the version) to prove the
    # quoting, the absolute interpreter and the log redirection work.
    command = line.split(" ", 5)[5].replace(" recheck --all ", " --version ")
    settings.log_dir.mkdir(parents=True)
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (settings.log_dir / "scheduled-last.log").read_text().startswith("optout ")


def _throwaway_crontab(tmp_path: Path) -> list[str] | None:
    """The real crontab binary, in a private mount namespace whose spool dir is a temp dir: the user's
    own crontab is never touched. None where that is not possible (no cron, no unshare rights)."""
    if not (shutil.which("crontab") and shutil.which("unshare")) or not Path("/var/spool/cron/crontabs").is_dir():
        return None
    spool = tmp_path / "spool"
    spool.mkdir()
    subprocess.run(["chgrp", "crontab", str(spool)], check=False)
    spool.chmod(0o1730)
    command = ["unshare", "-m", "--", "sh", "-c",
               f'mount --bind {shlex.quote(str(spool))} /var/spool/cron/crontabs && exec crontab "$@"', "crontab"]
    probe = subprocess.run([*command, "-l"], capture_output=True, text=True)
    return command if "no crontab" in probe.stderr.lower() else None


def test_install_twice_status_remove_in_a_throwaway_crontab(optout_env, tmp_path):
    crontab = _throwaway_crontab(tmp_path)
    if crontab is None:
        pytest.skip("needs cron's crontab and unshare -m (root) for a throwaway crontab")
    env = {"OPTOUT_CRONTAB_COMMAND": json.dumps(crontab)}
    subprocess.run([*crontab, "-"], input="0 1 * * * echo keep-me\n", text=True, check=True)

    dry = optout_env.run("schedule", "install", "--backend", "cron", "--dry-run", extra_env=env)
    assert dry.returncode == 0 and "Would install" in dry.stdout
    assert "optout-recheck" not in subprocess.run([*crontab, "-l"], capture_output=True, text=True).stdout

    for every in ("daily", "0 6 * * 1-5"):  # the second install replaces the first
        done = optout_env.run("schedule", "install", "--backend", "cron", "--every", every, extra_env=env)
        assert done.returncode == 0, done.stderr
    lines = subprocess.run([*crontab, "-l"], capture_output=True, text=True).stdout.splitlines()
    ours = [line for line in lines if line.endswith(schedule.CRON_TAG)]
    assert len(ours) == 1 and ours[0].startswith("0 6 * * 1-5 ")
    assert f"{sys.executable} -m optout recheck --all" in ours[0]
    assert f"OPTOUT_STATE_DIR={optout_env.home / 'state'}" in ours[0]
    assert "0 1 * * * echo keep-me" in lines  # the user's own line stays

    status = json.loads(optout_env.run("schedule", "status", "--json", extra_env=env).stdout)
    assert status["installed"] and status["backend"] == "cron" and status["cron"] == "0 6 * * 1-5"
    assert datetime.fromisoformat(status["next_run"]).weekday() < 5

    removed = optout_env.run("schedule", "remove", extra_env=env)
    assert removed.returncode == 0 and "Removed the cron schedule" in removed.stdout
    lines = subprocess.run([*crontab, "-l"], capture_output=True, text=True).stdout.splitlines()
    assert lines == ["0 1 * * * echo keep-me"]
    after = json.loads(optout_env.run("schedule", "status", "--json", extra_env=env).stdout)
    assert after["installed"] is False


# ---- values with awkward characters (issue 12 item 12) ----

AWKWARD = "odd dir %h $HOME 'q' \"dq\" back\\slash;semi"


@pytest.mark.parametrize("backend", schedule.BACKENDS)
@pytest.mark.parametrize("bad", ["line\nExecStartPre=/bin/evil", "tab\there", "bell\x07", "cr\rhere"])
def test_control_characters_are_refused_by_every_backend(tmp_path, monkeypatch, backend, bad):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    settings = load_settings(base_url="http://127.0.0.1:8765", state_dir=tmp_path / bad, data_dir=tmp_path / "data")
    with pytest.raises(BadInput, match="control character") as refused:
        schedule.plan(settings, "daily", backend)
    assert "ExecStartPre" not in refused.value.message


@pytest.fixture
def awkward(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return load_settings(base_url="http://127.0.0.1:8765", state_dir=tmp_path / AWKWARD / "state",
                         data_dir=tmp_path / AWKWARD / "data")


def _systemd_words(value: str) -> list[str]:
    """What systemd makes of a quoted setting: C-style unquoting (as POSIX shlex does for these
    escapes), then %% -> % and $$ -> $ (the latter in command lines only; Environment= has no $$)."""
    return [w.replace("%%", "%") for w in shlex.split(value)]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_quotes_awkward_values(awkward, tmp_path):
    plan = schedule.plan(awkward, "daily", "systemd")
    units = tmp_path / "units"
    units.mkdir()
    for path, content in plan.files.items():
        (units / Path(path).name).write_text(content)
    service = (units / "optout-recheck.service").read_text()
    env_lines = re.findall(r"^Environment=(.+)$", service, re.M)
    env = dict(_systemd_words(line)[0].split("=", 1) for line in env_lines)
    assert env["OPTOUT_STATE_DIR"] == str(awkward.state_dir)
    exec_start = re.search(r"^ExecStart=(.+)$", service, re.M).group(1)
    assert [w.replace("$$", "$") for w in _systemd_words(exec_start)] == plan.argv
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    verify = subprocess.run(["systemd-analyze", "verify", "--user", str(units / "optout-recheck.timer"),
                             str(units / "optout-recheck.service")], capture_output=True, text=True,
                            env={"XDG_RUNTIME_DIR": str(runtime), "PATH": "/usr/bin:/bin"})
    assert verify.returncode == 0, verify.stderr


def test_crontab_quotes_awkward_values_and_the_command_runs(awkward):
    line = schedule.crontab_line(awkward, "*/10 * * * *")
    assert "\n" not in line and line.endswith(schedule.CRON_TAG)
    # cron turns an unescaped % into a line break and hands the rest to /bin/sh; do the same here, with
    # the job's interpreter printing the variable it was given instead of running the recheck.
    show = """ -c 'import os,sys; sys.stdout.write(os.environ["OPTOUT_STATE_DIR"])' """
    command = line.split(" ", 5)[5].replace("\\%", "%").replace(" -m optout recheck --all ", show)
    awkward.log_dir.mkdir(parents=True)
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (awkward.log_dir / "scheduled-last.log").read_text() == str(awkward.state_dir)


def test_launchd_and_schtasks_keep_awkward_values(awkward):
    (content,) = schedule.plan(awkward, "daily", "launchd").files.values()
    plist = plistlib.loads(content.encode())
    assert plist["EnvironmentVariables"]["OPTOUT_STATE_DIR"] == str(awkward.state_dir)
    assert plist["StandardOutPath"] == str(awkward.log_dir / "launchd.log")
    (command,) = schedule.plan(awkward, "daily", "schtasks").commands
    assert command[6] == subprocess.list2cmdline(
        [sys.executable, "-m", "optout", "--base-url", "http://127.0.0.1:8765", "recheck", "--all"])


def test_settings_only_in_this_shell_are_named_not_copied(settings, monkeypatch):
    """A notification URL given by OPTOUT_NOTIFY_URLS at install time would be invisible to the job (and
    holds a token): the plan says to put it in config.toml, and writes it nowhere."""
    from optout import schedule

    monkeypatch.setenv("OPTOUT_NOTIFY_URLS", json.dumps([f"json://user:{TOKEN}@127.0.0.1/hook"]))
    plan = schedule.plan(settings, "daily", "cron")
    assert any("OPTOUT_NOTIFY_URLS" in note and "config.toml" in note for note in plan.notes)
    assert TOKEN not in json.dumps(plan.model_dump(mode="json"))
