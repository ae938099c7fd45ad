"""Install, show and remove the scheduled `optout recheck --all`, with the scheduler each OS has: a
systemd user service + timer, a crontab line, a launchd agent, or a Windows scheduled task.

Every backend runs this installation's optout by absolute path (sys.executable -m optout), passes the
settings that locate this user's world (base URL, state/data/config dirs, keyring service) and nothing
secret, and has one entry whatever the number of installs: systemd and launchd overwrite their files,
the crontab line carries a tag and replaces its predecessor, schtasks /Create /F replaces the task. The
recheck writes its own rotating log in the state dir; a small state file (schedule.json) remembers
which backend holds the entry so `status` and `remove` find it again.
"""

from __future__ import annotations

import itertools
import json
import os
import plistlib
import shlex
import shutil
import subprocess
import tomllib
import sys
from datetime import datetime
from pathlib import Path

import platformdirs
from croniter import croniter
from pydantic import BaseModel, Field

from optout.config import DEFAULT_BASE_URL, Settings, default_config_file
from optout.errors import BadInput, EnvironmentProblem
from optout.files import make_private_dir
from optout.models import utcnow
from optout.site import is_x

BACKENDS = ("systemd", "cron", "launchd", "schtasks")
PRESETS = {"daily": "17 4 * * *", "weekly": "17 4 * * 1"}  # off the hour: X sees fewer bursts then
NAME = "optout-recheck"
CRON_TAG = f"# {NAME}"
LAUNCHD_LABEL = "optout.recheck"
STATE_FILE = "schedule.json"
# Settings that say whose accounts and which files: the job needs them; secrets and tokens stay out.
JOB_FIELDS = ("base_url", "state_dir", "data_dir", "config_dir", "evidence_dir", "keyring_service", "browser_path")


class Plan(BaseModel):
    """Everything an install writes and runs, so --dry-run can show it and tests can check it."""

    backend: str
    cron: str
    argv: list[str]  # the scheduled command
    env: dict[str, str]
    files: dict[str, str] = Field(default_factory=dict)  # path -> content
    crontab_line: str | None = None
    commands: list[list[str]] = Field(default_factory=list)  # run after the files are written
    notes: list[str] = Field(default_factory=list)


class ScheduleStatus(BaseModel):
    installed: bool
    backend: str | None = None
    cron: str | None = None
    next_run: datetime | None = None
    entry: str | None = None  # where it lives: files, the crontab line, the task name
    log_dir: str
    notes: list[str] = Field(default_factory=list)


# ---- what to run and when ----

def parse_every(every: str) -> str:
    """'daily', 'weekly' or a five-field cron expression -> a validated cron expression."""
    expr = PRESETS.get(every.strip().lower(), every.strip())
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise BadInput(f"'{every}' is not a schedule optout understands.",
                       hint="Use daily, weekly, or a five-field cron expression such as '30 6 * * 1-5'.")
    return expr


def job_argv() -> list[str]:
    """This installation's optout, by absolute path."""
    return [str(Path(sys.executable).absolute()), "-m", "optout", "recheck", "--all"]


def job_env(settings: Settings) -> dict[str, str]:
    """OPTOUT_* values for the settings this process got from its environment or command line."""
    env = {}
    for name in JOB_FIELDS:
        value = getattr(settings, name)
        if name in settings.model_fields_set and value is not None:
            env[f"OPTOUT_{name.upper()}"] = str(value)
    config_file = default_config_file()
    if config_file != Path(platformdirs.user_config_dir("optout")) / "config.toml":
        env["OPTOUT_CONFIG_FILE"] = str(config_file)
    return env


def next_run(cron: str, after: datetime | None = None) -> datetime:
    return croniter(cron, (after or datetime.now()).astimezone()).get_next(datetime)


def _fields(cron: str) -> list[list]:
    return croniter(cron).expanded


# ---- systemd ----

def systemd_dir() -> Path:
    return Path(platformdirs.user_config_dir("systemd")) / "user"


def _systemd_quote(word: str, *, command: bool = True) -> str:
    """systemd's own quoting: specifiers (%) doubled everywhere, variables ($) doubled in a command line
    only (Environment= does not expand them), and a word with a space, quote or backslash in double
    quotes with its backslashes and double quotes escaped C-style."""
    word = word.replace("%", "%%")
    if command:
        word = word.replace("$", "$$")
    if any(c in word for c in " \t\"'\\;") or not word:
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def on_calendar(cron: str) -> str:
    """A cron expression as a systemd OnCalendar value (DOW Y-M-D H:M:S)."""
    minute, hour, dom, month, dow = _fields(cron)
    if dom != ["*"] and dow != ["*"]:
        raise BadInput(f"'{cron}' restricts both day of month and weekday, which cron and systemd read "
                       "differently.", hint="Use one of the two, or --backend cron.")

    def part(values: list, width: int = 2) -> str:
        return "*" if values == ["*"] else ",".join(f"{v:0{width}d}" for v in values)

    days = "" if dow == ["*"] else ",".join(("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")[v % 7]
                                            for v in dow) + " "
    return f"{days}*-{part(month)}-{part(dom)} {part(hour)}:{part(minute)}:00"


def _systemd_plan(settings: Settings, cron: str) -> Plan:
    argv, env = job_argv(), job_env(settings)
    service = "\n".join([
        "[Unit]",
        "Description=optout: re-check that X accounts stay opted out of AI-training data sharing",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        *(f"Environment={_systemd_quote(f'{k}={v}', command=False)}" for k, v in env.items()),
        "ExecStart=" + " ".join(_systemd_quote(a) for a in argv),
        "Nice=10",
        "",
    ])
    timer = "\n".join([
        "[Unit]",
        f"Description=optout recheck on schedule (cron: {cron})",
        "",
        "[Timer]",
        f"OnCalendar={on_calendar(cron)}",
        "Persistent=true",
        "RandomizedDelaySec=15min",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])
    unit_dir = systemd_dir()
    return Plan(
        backend="systemd", cron=cron, argv=argv, env=env,
        files={str(unit_dir / f"{NAME}.service"): service, str(unit_dir / f"{NAME}.timer"): timer},
        commands=[["systemctl", "--user", "daemon-reload"],
                  ["systemctl", "--user", "enable", "--now", f"{NAME}.timer"]],
        notes=["Output goes to the journal (journalctl --user -u optout-recheck); the recheck's own log "
               f"is in {settings.log_dir}.",
               "To run while you are logged out: loginctl enable-linger $USER."],
    )


# ---- cron ----

def _cron_quote(word: str) -> str:
    return shlex.quote(word).replace("%", r"\%")  # an unescaped % ends a crontab command


def crontab_line(settings: Settings, cron: str) -> str:
    env = job_env(settings)
    if sys.platform.startswith("linux"):
        # The keyring (Secret Service) lives on the user's session bus, which cron does not pass on.
        env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/$(id -u)/bus", **env}
    assignments = " ".join(f"{k}={v if k.startswith('DBUS') else _cron_quote(v)}" for k, v in env.items())
    log = _cron_quote(str(settings.log_dir / "scheduled-last.log"))
    command = " ".join(_cron_quote(a) for a in job_argv())
    return f"{cron} {assignments + ' ' if assignments else ''}{command} >{log} 2>&1 {CRON_TAG}"


def _crontab(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    command = [*settings.crontab_command, *args]
    if not shutil.which(command[0]):
        raise EnvironmentProblem("There is no crontab command here.",
                                 hint="Install cron (Debian/Ubuntu: apt-get install cron) or use --backend systemd.")
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=30)


def read_crontab(settings: Settings) -> list[str]:
    proc = _crontab(settings, "-l")
    if proc.returncode != 0:
        if "no crontab" in proc.stderr.lower():
            return []
        raise EnvironmentProblem(f"Could not read the crontab ({proc.stderr.strip()}).")
    return proc.stdout.splitlines()


def write_crontab(settings: Settings, lines: list[str]) -> None:
    proc = _crontab(settings, "-", stdin="".join(line + "\n" for line in lines))
    if proc.returncode != 0:
        raise EnvironmentProblem(f"Could not write the crontab ({proc.stderr.strip()}).")


def _ours(line: str) -> bool:
    return line.rstrip().endswith(CRON_TAG)


def _cron_plan(settings: Settings, cron: str) -> Plan:
    return Plan(backend="cron", cron=cron, argv=job_argv(), env=job_env(settings),
                crontab_line=crontab_line(settings, cron),
                notes=[f"The last run's output: {settings.log_dir / 'scheduled-last.log'}; the recheck's own "
                       f"rotating log is in {settings.log_dir}."])


# ---- launchd ----

def launchd_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def calendar_intervals(cron: str) -> list[dict[str, int]]:
    """launchd's StartCalendarInterval: one dict per combination of the cron fields that are not '*'."""
    keys = ("Minute", "Hour", "Day", "Month", "Weekday")
    fields = [(k, v) for k, v in zip(keys, _fields(cron)) if v != ["*"]]
    combos = list(itertools.product(*(v for _, v in fields)))
    if len(combos) > 500:
        raise BadInput(f"'{cron}' fires too often to describe to launchd.", hint="Use a coarser schedule.")
    return [{k: int(value) % 7 if k == "Weekday" else int(value) for (k, _), value in zip(fields, combo)}
            for combo in combos]


def _launchd_plan(settings: Settings, cron: str) -> Plan:
    path = launchd_path()
    log = str(settings.log_dir / "launchd.log")
    plist = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": job_argv(),
        "EnvironmentVariables": job_env(settings),
        "StartCalendarInterval": calendar_intervals(cron),
        "StandardOutPath": log,
        "StandardErrorPath": log,
        "ProcessType": "Background",
        "LowPriorityIO": True,
    }
    domain = f"gui/{os.getuid()}" if hasattr(os, "getuid") else "gui/0"
    return Plan(backend="launchd", cron=cron, argv=job_argv(), env=job_env(settings),
                files={str(path): plistlib.dumps(plist).decode()},
                commands=[["launchctl", "bootout", domain, str(path)], ["launchctl", "bootstrap", domain, str(path)]])


# ---- Windows Task Scheduler ----

_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
SCHTASKS_TR_MAX = 261  # the documented limit of schtasks /Create /TR


def schtasks_trigger(cron: str) -> list[str]:
    """The /SC ... arguments for the cron shapes Task Scheduler can express."""
    minute, hour, dom, month, dow = _fields(cron)
    fixed_time = len(minute) == 1 and len(hour) == 1 and "*" not in (minute[0], hour[0])
    if fixed_time and dom == ["*"] and month == ["*"]:
        start = ["/ST", f"{hour[0]:02d}:{minute[0]:02d}"]
        if dow == ["*"]:
            return ["/SC", "DAILY", *start]
        return ["/SC", "WEEKLY", "/D", ",".join(_DAYS[d % 7] for d in dow), *start]
    steps = [b - a for a, b in zip(minute, minute[1:])]
    if hour == dom == month == dow == ["*"] and minute[0] == 0 and len(set(steps)) == 1 and 60 % steps[0] == 0:
        return ["/SC", "MINUTE", "/MO", str(steps[0])]
    raise BadInput(f"Windows Task Scheduler cannot express '{cron}' here.",
                   hint="Use daily, weekly, 'M H * * DAYS' or '*/N * * * *'.")


def _schtasks_plan(settings: Settings, cron: str) -> Plan:
    argv = job_argv()
    if settings.base_url != DEFAULT_BASE_URL:
        argv = argv[:3] + ["--base-url", settings.base_url] + argv[3:]
    command = subprocess.list2cmdline(argv)  # Windows' own quoting rules for one command line
    if len(command) > SCHTASKS_TR_MAX:
        raise BadInput(f"The command for Task Scheduler is {len(command)} characters; schtasks /TR takes at most "
                       f"{SCHTASKS_TR_MAX}.", hint="Install optout in a shorter path (e.g. C:\\optout), or keep "
                       "base_url in config.toml instead of OPTOUT_BASE_URL.")
    notes = []
    if set(job_env(settings)) - {"OPTOUT_BASE_URL"}:
        notes.append("Task Scheduler gets no environment: put data_dir/state_dir/keyring_service in "
                     f"{default_config_file()} instead of OPTOUT_* variables.")
    return Plan(backend="schtasks", cron=cron, argv=argv, env={},
                commands=[["schtasks", "/Create", "/F", "/TN", NAME, "/TR", command, *schtasks_trigger(cron)]],
                notes=notes)


_PLANNERS = {"systemd": _systemd_plan, "cron": _cron_plan, "launchd": _launchd_plan, "schtasks": _schtasks_plan}


# ---- choosing, installing, removing ----

def _systemd_user_available() -> bool:
    if not shutil.which("systemctl"):
        return False
    probe = subprocess.run(["systemctl", "--user", "show-environment"], capture_output=True, timeout=15)
    return probe.returncode == 0


def choose_backend(settings: Settings, backend: str = "auto") -> str:
    if backend != "auto":
        if backend not in BACKENDS:
            raise BadInput(f"Unknown scheduler '{backend}'.", hint="Use auto, " + ", ".join(BACKENDS) + ".")
        return backend
    if sys.platform == "win32":
        return "schtasks"
    if sys.platform == "darwin":
        return "launchd"
    if _systemd_user_available():
        return "systemd"
    if shutil.which(settings.crontab_command[0]):
        return "cron"
    raise EnvironmentProblem("Found neither a systemd user session nor a crontab command to schedule with.",
                             hint="Install cron, or log in with a systemd user session, or run "
                                  "`optout recheck --all` from your own scheduler.")


def check_job_values(settings: Settings) -> None:
    """Every value a job file, crontab line, plist or task carries, checked before any is written: a
    control character (a newline above all) would end the line it is on and start another directive."""
    values = {"the command": " ".join(job_argv()), "the log folder": str(settings.log_dir),
              **{k: v for k, v in job_env(settings).items()}}
    for name, value in values.items():
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise BadInput(f"{name} holds a control character (a line break, tab or the like), which a scheduled "
                           "job cannot carry safely.",
                           hint="Use folder names and settings without control characters, then install again.")


def plan(settings: Settings, every: str = "daily", backend: str = "auto") -> Plan:
    check_job_values(settings)
    the_plan = _PLANNERS[choose_backend(settings, backend)](settings, parse_every(every))
    if not is_x(settings.base_url):
        # The job names the site only; it holds no secret, and the secrets it can reach are those stored
        # for that site (never X's).
        the_plan.notes.insert(0, f"This job runs against {settings.base_url}, not X (x.com): it uses only the "
                              "accounts stored for that site. Unset OPTOUT_BASE_URL (or base_url in config.toml) "
                              "and install again to re-check your X accounts.")
    unseen = _env_only_settings(settings)
    if unseen:
        the_plan.notes.insert(0, f"{', '.join(unseen)} come from this shell's environment; the job does not copy "
                              f"them (notification URLs hold tokens): put them in {default_config_file()} so the "
                              "scheduled recheck sees them.")
    return the_plan


def _env_only_settings(settings: Settings) -> list[str]:
    """Settings the recheck needs that only this shell's environment gives (not config.toml): the job
    would run without them. Secret-bearing ones (notification URLs) are never written into a job."""
    return [f"OPTOUT_{name.upper()}" for name in ("notify_urls", "proxy", "tsa_url", "prune_after_days")
            if os.environ.get(f"OPTOUT_{name.upper()}") and name not in _config_keys()]


def _config_keys() -> set[str]:
    try:
        with default_config_file().open("rb") as fh:
            return set(tomllib.load(fh))
    except (OSError, tomllib.TOMLDecodeError):
        return set()


def _run(command: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    if not shutil.which(command[0]):
        raise EnvironmentProblem(f"'{command[0]}' is not available here.",
                                 hint="Run `optout schedule install --dry-run` to see what to set up by hand.")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise EnvironmentProblem(f"`{' '.join(command[:4])}` failed: {proc.stderr.strip() or proc.stdout.strip()}",
                                 hint="The files are written; fix the cause and run `optout schedule install` again.")
    return proc


def install(settings: Settings, every: str = "daily", backend: str = "auto", *, dry_run: bool = False) -> Plan:
    """Put the schedule in place (replacing an earlier one of ours); with dry_run only say what it would do."""
    the_plan = plan(settings, every, backend)
    if dry_run:
        return the_plan
    make_private_dir(settings.log_dir)
    previous = _load_state(settings)
    if previous and previous.get("backend") != the_plan.backend:
        remove(settings)  # one schedule, not one per backend
    for path, content in the_plan.files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(content, encoding="utf-8")
    if the_plan.crontab_line:
        lines = [line for line in read_crontab(settings) if not _ours(line)]
        write_crontab(settings, lines + [the_plan.crontab_line])
    for i, command in enumerate(the_plan.commands):
        # launchd's bootout of a job that is not loaded yet fails harmlessly.
        _run(command, check=not (the_plan.backend == "launchd" and i == 0))
    _save_state(settings, {"backend": the_plan.backend, "cron": the_plan.cron,
                           "installed_at": utcnow().isoformat(), "files": list(the_plan.files)})
    return the_plan


def remove(settings: Settings) -> ScheduleStatus:
    """Take our entry out of whichever backend holds it; the status afterwards."""
    found = status(settings)
    if found.installed:
        _REMOVERS[found.backend](settings)
    (settings.state_dir / STATE_FILE).unlink(missing_ok=True)
    return found


def _remove_systemd(settings: Settings) -> None:
    if _systemd_user_available():
        _run(["systemctl", "--user", "disable", "--now", f"{NAME}.timer"], check=False)
    for suffix in ("timer", "service"):
        (systemd_dir() / f"{NAME}.{suffix}").unlink(missing_ok=True)
    if _systemd_user_available():
        _run(["systemctl", "--user", "daemon-reload"], check=False)


def _remove_cron(settings: Settings) -> None:
    lines = read_crontab(settings)
    if any(_ours(line) for line in lines):
        write_crontab(settings, [line for line in lines if not _ours(line)])


def _remove_launchd(settings: Settings) -> None:
    if shutil.which("launchctl"):
        _run(["launchctl", "bootout", f"gui/{os.getuid()}", str(launchd_path())], check=False)
    launchd_path().unlink(missing_ok=True)


def _remove_schtasks(settings: Settings) -> None:
    _run(["schtasks", "/Delete", "/TN", NAME, "/F"], check=False)


_REMOVERS = {"systemd": _remove_systemd, "cron": _remove_cron, "launchd": _remove_launchd,
             "schtasks": _remove_schtasks}


def _find_entry(settings: Settings, backend: str) -> str | None:
    """Where our entry is in `backend`, or None: the truth, whatever schedule.json says."""
    if backend == "systemd":
        timer = systemd_dir() / f"{NAME}.timer"
        return str(timer) if timer.exists() else None
    if backend == "launchd":
        return str(launchd_path()) if launchd_path().exists() else None
    if backend == "cron":
        if not shutil.which(settings.crontab_command[0]):
            return None
        return next((line for line in read_crontab(settings) if _ours(line)), None)
    if backend == "schtasks":
        if not shutil.which("schtasks"):
            return None
        return NAME if _run(["schtasks", "/Query", "/TN", NAME], check=False).returncode == 0 else None
    return None


def _candidates() -> tuple[str, ...]:
    if sys.platform == "win32":
        return ("schtasks",)
    if sys.platform == "darwin":
        return ("launchd", "cron")
    return ("systemd", "cron")


def status(settings: Settings) -> ScheduleStatus:
    saved = _load_state(settings) or {}
    backends = [saved["backend"]] if saved.get("backend") in BACKENDS else list(_candidates())
    for backend in backends:
        entry = _find_entry(settings, backend)
        if entry:
            cron = saved.get("cron")
            if backend == "cron" and not cron:
                cron = " ".join(entry.split()[:5])
            return ScheduleStatus(installed=True, backend=backend, cron=cron, entry=entry,
                                  next_run=next_run(cron) if cron else None, log_dir=str(settings.log_dir))
    notes = [f"schedule.json names {saved['backend']}, but its entry is gone."] if saved else []
    return ScheduleStatus(installed=False, log_dir=str(settings.log_dir), notes=notes)


def _load_state(settings: Settings) -> dict | None:
    try:
        return json.loads((settings.state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _save_state(settings: Settings, data: dict) -> None:
    make_private_dir(settings.state_dir)
    (settings.state_dir / STATE_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")
