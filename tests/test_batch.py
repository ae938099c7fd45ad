"""`optout batch` and `optout accounts import` end to end: the real command in a subprocess, a real
headless Chromium, the real keyring, the replica's truth through its admin API, and the history
database the batch writes. Every test ends with a secret scan over everything the tool wrote."""

from __future__ import annotations

import csv
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from tests.secrets_scan import find_leaks
from waiting import wait_until
from worker_keyring import restart_keyring

PARTNERS = "allow_sharing_data_for_third_party_personalization"
GROK = "allow_xai_data_sharing"
GROK_OTHER = "allow_xai_personalization"
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DP"
SETTINGS_API = "/1.1/account/settings.json"
# The batch tests are about the batch (plan, queue, resume, breaker, shards), so their accounts switch off
# one setting each: every setting adds its page, two screenshots and a reload per account (and a window of
# its own for each page after the first), and the two defaults side by side are what test_runner,
# test_cli_run and the remote-browser batch below test. The other setting is left as it was: the
# 30-account, resume and Ctrl-C tests check that.
ONE_SETTING = ("--setting", "business-partners")


def password_of(handle: str) -> str:
    return f"pw-{handle}-S3cret!x"


def add_accounts(replica, scenarios: list[dict]) -> None:
    for scenario in scenarios:
        replica.admin.add_account({"password": password_of(scenario["handle"]), **scenario})


def import_credentials(env, tmp_path, rows: list[tuple[str, ...]], name="creds.csv"):
    """Credentials CSV outside the optout home (it is input, not something the tool wrote)."""
    path = tmp_path / name
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([("handle", "password", "totp"), *rows])
    return env.run("accounts", "import", str(path))


def accounts_file(tmp_path, handles: list[str], name="accounts.toml") -> Path:
    path = tmp_path / name
    path.write_text("".join(f'[[account]]\nhandle = "@{h}"\n\n' for h in handles))
    return path


def db_rows(env) -> list[tuple[int, str, str]]:
    db = env.home / "state" / "optout.sqlite3"
    if not db.exists():
        return []
    with closing(sqlite3.connect(db)) as conn:  # `with` alone commits but leaves it open until a GC
        try:
            return conn.execute("SELECT run_id, handle, outcome FROM account_results ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # the batch has created the file but not yet its tables
            return []


def scan(env, secrets: list[str]) -> None:
    assert find_leaks(secrets, files=env.written_files(), texts=env.outputs) == []


@pytest.fixture
def env(optout_env, fresh_replica):
    """optout_env with its replica at hand."""
    optout_env.replica = fresh_replica
    return optout_env


# ---- input errors: nothing runs --------------------------------------------------------------------


@pytest.mark.parametrize("name,text,where", [
    ("bad.toml", '[[account]]\nhandle = "ok"\n\n[[account]]\nhandle = "x"\ncolour = "red"\n', "line 6 (account #2, key 'colour')"),
    ("bad.yaml", "- handle: alice\n- handle: bob\n  settings: [grok]\n", "line 3 (account #2, key 'settings')"),
    ("bad.csv", "handle,settings\nalice,\nbob alice,\n", "row 3, column 'handle'"),
    ("bad.toml", '[[account]]\nhandle = "x"\npassword = "hunter2hunter2"\n', "key 'password' is not allowed"),
])
def test_malformed_files_are_bad_input(env, tmp_path, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    proc = env.run("batch", str(path))
    assert proc.returncode == 2, proc.stderr
    assert str(path) in proc.stderr and where in proc.stderr and "nothing was run" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert env.replica.admin.requests() == []
    assert "hunter2hunter2" not in proc.stderr + proc.stdout


def test_accounts_missing_from_the_keyring_fail_fast(env, tmp_path):
    add_accounts(env.replica, [{"handle": h} for h in ("kr_one", "kr_two", "kr_three")])
    import_credentials(env, tmp_path, [("kr_two", password_of("kr_two"))])
    proc = env.run("batch", str(accounts_file(tmp_path, ["kr_one", "kr_two", "kr_three"])), "--json")
    assert proc.returncode == 2
    error = json.loads(proc.stdout)
    assert "@kr_one" in error["message"] and "@kr_three" in error["message"] and "@kr_two" not in error["message"]
    assert "optout accounts import" in error["hint"]
    assert env.replica.admin.requests() == [] and db_rows(env) == []


# ---- accounts import -------------------------------------------------------------------------------


def test_accounts_import_stores_everything_and_echoes_nothing(env, tmp_path):
    rows = [("@Imp_A", password_of("imp_a")), ("imp_b", password_of("imp_b"), TOTP), ("imp_c", "pa,ss word\"q")]
    proc = import_credentials(env, tmp_path, rows)
    assert proc.returncode == 0, proc.stderr
    assert "delete" in proc.stdout.lower() and "creds.csv" in proc.stdout
    listed = json.loads(env.run("accounts", "list", "--json").stdout)
    assert {a["handle"]: a["totp"] for a in listed} == {"imp_a": False, "imp_b": True, "imp_c": False}
    # stdin works too, and a bad row stores nothing at all
    bad = "handle,password,totp\nimp_d,pw-imp_d-S3cret!x\nimp_e,pw-imp_e-S3cret!x,not-a-totp-secret!\n"
    proc = env.run("accounts", "import", "-", input=bad)
    assert proc.returncode == 2 and "row 3" in proc.stderr and "imp_e" in proc.stderr
    assert "not-a-totp-secret" not in proc.stderr
    listed = json.loads(env.run("accounts", "list", "--json").stdout)
    assert sorted(a["handle"] for a in listed) == ["imp_a", "imp_b", "imp_c"]
    # a header puts the columns in any order
    proc = env.run("accounts", "import", "-", input="password,handle\npw-imp_f-S3cret!x,imp_f\n")
    assert proc.returncode == 0 and "@imp_f" in proc.stdout
    scan(env, [r[1] for r in rows] + [TOTP, "pw-imp_d-S3cret!x", "pw-imp_e-S3cret!x", "pw-imp_f-S3cret!x"])


# ---- a 30-account batch across scenarios -----------------------------------------------------------

# name prefix -> (how many, replica scenario extras, expected account outcome)
SCENARIOS = {
    "ok": (10, {}, "ok"),
    "off": (5, {"settings": {PARTNERS: False, GROK: False}}, "ok"),
    "badpw": (4, {}, "login_failed"),
    "captcha": (3, {"captcha": True}, "needs_human"),
    "rl_once": (3, {"faults": [{"kind": "rate_limit", "count": 1, "reset_s": 2, "path": SETTINGS_API}]}, "ok"),
    "rl_hard": (2, {"faults": [{"kind": "rate_limit", "reset_s": 3600, "path": SETTINGS_API}]}, "rate_limited"),
    "savefail": (3, {"faults": [{"kind": "save_fails"}]}, "verify_failed"),
}


@pytest.mark.timeout(900)
@pytest.mark.long
def test_thirty_accounts_end_with_the_right_outcome_each(env, tmp_path):
    expected, scenarios, creds = {}, [], []
    for prefix, (count, extras, outcome) in SCENARIOS.items():
        for i in range(count):
            handle = f"{prefix}_{i}"
            expected[handle] = outcome
            scenarios.append({"handle": handle, **json.loads(json.dumps(extras))})
            creds.append((handle, "wrong-" + password_of(handle) if prefix == "badpw" else password_of(handle)))
    assert len(expected) == 30
    add_accounts(env.replica, scenarios)
    imported = import_credentials(env, tmp_path, creds)
    assert imported.returncode == 0, imported.stderr
    order = sorted(expected, key=lambda h: h.startswith("rl_"))  # rate limits last: they slow the batch
    path = accounts_file(tmp_path, order)

    html = env.home / "batch-report.html"
    proc = env.run("batch", str(path), *ONE_SETTING, "--concurrency", "4", "--max-challenges", "0", "--json",
                   "--report", str(html), extra_env={"OPTOUT_RATE_LIMIT_MAX_WAIT_S": "30"}, timeout=600)
    assert proc.returncode == 1, proc.stderr  # some accounts failed
    report = json.loads(proc.stdout)
    got = {r["handle"]: (r["outcome"], r["message"]) for r in report["results"]}
    assert {h: got.get(h) for h in expected if got.get(h, (None,))[0] != expected[h]} == {}
    assert report["rate_limit_waits"] >= 3 and report["finished"] is False  # rl_hard is left for --resume
    policy_seen = {json.loads(Path(r["receipt"]).read_text())["privacy_policy_version"] for r in report["results"]}
    assert len(policy_seen) == 1 and None not in policy_seen  # one reading names the policy in every receipt

    for handle, outcome in expected.items():  # the replica's own truth
        truth = env.replica.admin.get_account(handle)
        assert (not truth["settings"][PARTNERS]) == (outcome == "ok"), (handle, truth["settings"])
        assert truth["settings"][GROK] is not handle.startswith("off_"), (handle, truth["settings"])  # not asked
        assert truth["settings"][GROK_OTHER] is True
        if handle.startswith("badpw"):
            assert truth["logins"] and all(l["outcome"] != "success" for l in truth["logins"])
    page = html.read_text()  # the HTML report covers the whole batch, filterable by outcome
    assert report["report_path"] == str(html) and all(f"@{h}" in page or f">{h}<" in page for h in expected)
    assert all(f'data-filter="{o}"' in page for o in set(expected.values()))
    rows = db_rows(env)
    assert sorted(h for _, h, _ in rows) == sorted(expected)  # one row per account, each written once
    assert {h: o for _, h, o in rows} == expected
    scan(env, [p for _, p in creds])


# ---- kill -9 mid-batch, then --resume --------------------------------------------------------------


@pytest.mark.timeout(900)
@pytest.mark.long
def test_resume_after_sigkill_does_only_the_rest(env, tmp_path):
    handles = [f"res_{i}" for i in range(6)]
    add_accounts(env.replica, [{"handle": h} for h in handles])
    assert import_credentials(env, tmp_path, [(h, password_of(h)) for h in handles]).returncode == 0
    path = accounts_file(tmp_path, handles)
    out, err = tmp_path / "killed.out", tmp_path / "killed.err"
    restart_keyring()  # a daemon an earlier kill left about to abort would end the batch before the kill
    with out.open("w") as fo, err.open("w") as fe:
        proc = subprocess.Popen([sys.executable, "-m", "optout", "batch", str(path), *ONE_SETTING,
                                 "--concurrency", "2"],
                                env=env.env, cwd=env.home, stdout=fo, stderr=fe, start_new_session=True)
        deadline = time.monotonic() + 400
        while len(db_rows(env)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, f"the batch ended before the kill: {err.read_text()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)  # the whole tree, as a crash or an OOM kill would
        proc.wait()
    env.outputs += [out.read_text(), err.read_text()]
    before = db_rows(env)
    finished = {h for _, h, _ in before}
    assert 3 <= len(before) < len(handles), "the kill should land mid-batch"
    run_id = before[0][0]
    seq_at_kill = max(r["seq"] for r in env.replica.admin.requests())
    restart_keyring()  # a client killed mid-call can leave gnome-keyring about to abort (tests/worker_keyring.py)

    proc = env.run("batch", str(path), *ONE_SETTING, "--resume", "--concurrency", "2", "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["run_id"] == run_id and report["finished"] is True
    assert set(report["done_before"]) == finished
    assert sorted(r["handle"] for r in report["results"]) == sorted(handles)

    rows = db_rows(env)
    assert sorted(h for _, h, _ in rows) == sorted(handles)  # each account recorded exactly once
    assert {r for r, _, _ in rows} == {run_id} and {o for _, _, o in rows} == {"ok"}
    later = env.replica.admin.requests(since=seq_at_kill)
    for handle in handles:
        truth = env.replica.admin.get_account(handle)
        assert not truth["settings"][PARTNERS] and truth["settings"][GROK]
        if handle in finished:  # done before the kill: not touched again
            assert [r for r in later if r["handle"] == handle] == []
            assert len(truth["logins"]) == 1
    again = env.run("batch", str(path), *ONE_SETTING, "--resume")
    assert again.returncode == 2 and "no unfinished batch" in again.stderr
    # --run-id: a finished run, an unknown one and another file's are refused before anything runs
    seq = max(r["seq"] for r in env.replica.admin.requests())
    refusals = {
        f"Batch run {run_id} already finished": env.run("batch", str(path), *ONE_SETTING, "--run-id", str(run_id)),
        f"with run id {run_id + 100} to resume": env.run("batch", str(path), *ONE_SETTING,
                                                          "--run-id", str(run_id + 100)),
        f"Run {run_id} was a batch of": env.run("batch", str(accounts_file(tmp_path, handles[:2], "other.toml")),
                                                 *ONE_SETTING, "--run-id", str(run_id)),
        f"Run {run_id} was started in apply mode for business-partners": env.run(
            "batch", str(path), "--run-id", str(run_id)),  # the default settings: not how it ran
    }
    for said, proc in refusals.items():
        assert proc.returncode == 2 and said in " ".join(proc.stderr.split()), proc.stderr
    assert env.replica.admin.requests(since=seq) == []
    scan(env, [password_of(h) for h in handles])


def _batch_until_rows(env, path, rows: int, extra_env: dict | None = None) -> subprocess.Popen:
    """`optout batch PATH` in its own process, returned once `rows` accounts are in the history."""
    proc = subprocess.Popen([sys.executable, "-m", "optout", "batch", str(path), *ONE_SETTING, "--concurrency", "1"],
                            env={**env.env, **(extra_env or {})}, cwd=env.home, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while len(db_rows(env)) < rows and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the batch ended before it could be interrupted"
    return proc


@pytest.mark.timeout(600)
def test_ctrl_c_keeps_what_finished_and_says_resume(env, tmp_path):
    handles = [f"int_{i}" for i in range(4)]
    add_accounts(env.replica, [{"handle": h} for h in handles])
    assert import_credentials(env, tmp_path, [(h, password_of(h)) for h in handles]).returncode == 0
    proc = _batch_until_rows(env, accounts_file(tmp_path, handles), 1)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, err = proc.communicate(timeout=120)
    restart_keyring()  # a Ctrl-C in the middle of a keyring call can leave gnome-keyring about to abort
    env.outputs += [out, err]
    text = " ".join(err.split())
    assert proc.returncode == 1 and "was interrupted" in text and "--resume" in text, err
    assert "Traceback" not in err
    rows = db_rows(env)
    assert 1 <= len(rows) < len(handles) and {o for _, _, o in rows} == {"ok"}
    for _, handle, _ in rows:  # what is recorded is what X really kept, and only what was asked for
        truth = env.replica.admin.get_account(handle)["settings"]
        assert not truth[PARTNERS] and truth[GROK], truth
    scan(env, [password_of(h) for h in handles])


@pytest.mark.timeout(600)
@pytest.mark.long
def test_browser_dying_mid_batch_is_exit_5_and_resume_finishes(env, tmp_path, devtools_browser_proc):
    endpoint, browser = devtools_browser_proc
    handles = [f"die_{i}" for i in range(4)]
    add_accounts(env.replica, [{"handle": h} for h in handles])
    assert import_credentials(env, tmp_path, [(h, password_of(h)) for h in handles]).returncode == 0
    path = accounts_file(tmp_path, handles)
    proc = _batch_until_rows(env, path, 1, extra_env={"OPTOUT_BROWSER_ENDPOINT": endpoint})
    os.killpg(browser.pid, signal.SIGKILL)  # the browser crashes (OOM killer, a bad GPU driver...)
    out, err = proc.communicate(timeout=120)
    restart_keyring()  # the batch may have exited in the middle of a keyring call (tests/worker_keyring.py)
    env.outputs += [out, err]
    assert proc.returncode == 5, out + err
    assert "The browser stopped in the middle of the run" in " ".join(err.split()) and "Traceback" not in err
    kept = {h for _, h, _ in db_rows(env)}
    assert 1 <= len(kept) < len(handles)
    # an account the dying browser broke is not recorded as its own failure: --resume does it again
    assert {outcome for _, _, outcome in db_rows(env)} == {"ok"}
    resumed = env.run("batch", str(path), *ONE_SETTING, "--resume", "--json")  # the session's browser this time
    report = json.loads(resumed.stdout)
    assert set(report["done_before"]) <= kept and {r["handle"] for r in report["results"]} == set(handles)
    assert sorted(h for _, h, _ in db_rows(env)) == sorted(handles)  # each account recorded once
    scan(env, [password_of(h) for h in handles])


@pytest.mark.timeout(600)
@pytest.mark.long
def test_shards_split_a_batch_between_machines(env, tmp_path):
    """`--shard 1/2` and `--shard 2/2` of one file: each account done by exactly one of them (the
    replica's logins say who touched what), each shard its own resumable run."""
    from optout.shard import partition

    handles = [f"sh_{i}" for i in range(4)]
    shares = partition(handles, 2)
    assert shares[1] and shares[2], shares  # the fixed handles fall into both shares
    add_accounts(env.replica, [{"handle": h} for h in handles])
    assert import_credentials(env, tmp_path, [(h, password_of(h)) for h in handles]).returncode == 0
    path = accounts_file(tmp_path, handles)
    for number in (1, 2):
        seq = max((r["seq"] for r in env.replica.admin.requests()), default=0)
        proc = env.run("batch", str(path), *ONE_SETTING, "--shard", f"{number}/2", "--json")
        assert proc.returncode == 0, proc.stderr
        assert [r["handle"] for r in json.loads(proc.stdout)["results"]] == shares[number]
        touched = {r["handle"] for r in env.replica.admin.requests(since=seq) if r["handle"]}
        assert touched == set(shares[number])
    assert all(len(env.replica.admin.get_account(h)["logins"]) == 1 for h in handles)
    assert len({run for run, _, _ in db_rows(env)}) == 2 and sorted(h for _, h, _ in db_rows(env)) == sorted(handles)


# ---- the challenge circuit breaker -----------------------------------------------------------------


@pytest.mark.timeout(600)
@pytest.mark.long
def test_challenges_in_a_row_stop_new_logins(env, tmp_path):
    captcha, fine = [f"cap_{i}" for i in range(3)], ["fine_0", "fine_1"]
    add_accounts(env.replica, [{"handle": h, "captcha": True} for h in captcha] + [{"handle": h} for h in fine])
    assert import_credentials(env, tmp_path, [(h, password_of(h)) for h in captcha + fine]).returncode == 0
    path = accounts_file(tmp_path, captcha + fine)
    proc = env.run("batch", str(path), *ONE_SETTING, "--concurrency", "1", "--max-challenges", "3",
                   extra_env={"COLUMNS": "250"})
    assert proc.returncode == 3, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "X seems to be blocking logins from this machine" in text and "2 account(s) were not started" in text
    assert "optout login --interactive cap_0" in text
    assert all(env.replica.admin.get_account(h)["logins"] == [] for h in fine)
    assert sorted(h for _, h, _ in db_rows(env)) == captcha
    # Later (another network, or after a pause) --resume does only the accounts never started.
    proc = env.run("batch", str(path), *ONE_SETTING, "--resume", "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 3 and sorted(report["done_before"]) == captcha
    assert {r["handle"]: r["outcome"] for r in report["results"]} == {**dict.fromkeys(captcha, "needs_human"),
                                                                        **dict.fromkeys(fine, "ok")}
    assert all(len(env.replica.admin.get_account(h)["logins"]) == 1 for h in captcha)  # not retried
    scan(env, [password_of(h) for h in captcha + fine])


# ---- remote browsers -------------------------------------------------------------------------------


def announced_endpoint(server: subprocess.Popen) -> str:
    """The ws:// URL `playwright run-server --port 0` prints once it listens. The server picks its own
    free port: a port chosen here and passed on could be taken by another worker's server meanwhile."""
    ready, _, _ = select.select([server.stdout], [], [], 60)
    assert ready, "run-server did not say where it listens"
    line = server.stdout.readline()
    found = re.search(r"ws://\S+", line)
    assert found, f"run-server said {line!r}"
    return found.group(0)


def devtools_port(profile: Path) -> int | None:
    """The port a Chromium started with --remote-debugging-port=0 chose, once its DevToolsActivePort file
    is whole (the port, then the browser's websocket path)."""
    try:
        port, path = (profile / "DevToolsActivePort").read_text().split("\n")[:2]
    except (FileNotFoundError, ValueError):
        return None
    return int(port) if port.isdigit() and path.startswith("/devtools/browser/") else None


@contextmanager
def _run_server(tmp_path, *, unsafe: bool):
    """`playwright run-server`, as a browser fleet runs it. This machine has no downloaded Playwright
    browsers, so the server's browser folder points its full Chromium at the system Chromium (server-side
    set-up only). Its headless shell, Playwright's default for a headless launch, is a stand-in that
    cannot start: the batch passes only if optout asked for the full build. `unsafe`: the server honours
    the launch arguments optout asks for (else its browser announces automation, and the replica, like
    X, refuses the logins)."""
    import playwright
    from optout.browser import _system_browser

    package = Path(playwright.__file__).parent / "driver" / "package"
    revisions = {b["name"]: b["revision"] for b in json.loads((package / "browsers.json").read_text())["browsers"]}
    browsers = tmp_path / "pw-browsers"
    full = browsers / f"chromium-{revisions['chromium']}" / "chrome-linux64"
    shell = (browsers / f"chromium_headless_shell-{revisions['chromium-headless-shell']}"
             / "chrome-headless-shell-linux64")
    for folder in (full, shell):
        folder.mkdir(parents=True, exist_ok=True)
    if not (full / "chrome").exists():
        (full / "chrome").symlink_to(_system_browser())
    (shell / "chrome-headless-shell").write_text("#!/bin/sh\necho 'the headless shell is not for optout' >&2\nexit 1\n")
    (shell / "chrome-headless-shell").chmod(0o755)
    cli = Path(sys.executable).with_name("playwright")
    server = subprocess.Popen([str(cli), "run-server", "--port", "0", "--host", "127.0.0.1",
                               *(["--unsafe"] if unsafe else [])],
                              env={**os.environ, "PLAYWRIGHT_BROWSERS_PATH": str(browsers)}, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield announced_endpoint(server)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        try:  # the driver's node process outlives a SIGTERM to the group: no server may outlive the test
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def playwright_server(tmp_path):
    with _run_server(tmp_path, unsafe=True) as endpoint:
        yield endpoint


def test_a_playwright_server_that_ignores_optouts_launch_arguments_is_named(env, tmp_path):
    """Without --unsafe the server's browser announces automation: optout says so, and the replica, as X,
    refuses the login (once, as a wrong password would be)."""
    add_accounts(env.replica, [{"handle": "remote_c"}])
    assert import_credentials(env, tmp_path, [("remote_c", password_of("remote_c"))]).returncode == 0
    with _run_server(tmp_path, unsafe=False) as endpoint:
        proc = env.run("batch", str(accounts_file(tmp_path, ["remote_c"])), "--browser-endpoint", endpoint, "--json")
    assert "announces automation" in proc.stderr and "run-server --unsafe" in " ".join(proc.stderr.split())
    assert [r["outcome"] for r in env.replica.admin.get_account("remote_c")["logins"]] == ["refused_automation"]


@pytest.fixture
def devtools_browser_proc(tmp_path):
    """A Chromium started with --remote-debugging-port, as `docker run ... chromium` fleets expose it:
    its endpoint and its process."""
    from optout.browser import LAUNCH_ARGS, _system_browser

    profile = tmp_path / "cdp-profile"
    args = [str(_system_browser()), "--headless=new", "--remote-debugging-port=0",  # Chromium picks a free port
            f"--user-data-dir={profile}", *LAUNCH_ARGS]
    args += ["--no-sandbox"] if os.geteuid() == 0 else []
    browser = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_until(lambda: devtools_port(profile) or browser.poll() is not None, "Chromium's DevTools port to open")
    assert browser.poll() is None, "Chromium exited at start"
    yield f"http://127.0.0.1:{devtools_port(profile)}", browser
    if browser.poll() is None:
        os.killpg(browser.pid, signal.SIGTERM)
    browser.wait(timeout=30)


@pytest.fixture
def devtools_browser(devtools_browser_proc):
    return devtools_browser_proc[0]


@pytest.mark.parametrize("remote", ["playwright_server", "devtools_browser"])
def test_batch_on_a_remote_browser(env, tmp_path, request, remote):
    endpoint = request.getfixturevalue(remote)
    handles = ["remote_a", "remote_b"]
    add_accounts(env.replica, [{"handle": h} for h in handles])
    assert import_credentials(env, tmp_path, [(h, password_of(h)) for h in handles]).returncode == 0
    proc = env.run("batch", str(accounts_file(tmp_path, handles)), "--browser-endpoint", endpoint, "--json",
                   extra_env={"OPTOUT_BROWSER": "/nonexistent/no-local-browser"})  # proves nothing is launched here
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["outcome"] for r in json.loads(proc.stdout)["results"]] == ["ok", "ok"]
    for handle in handles:
        truth = env.replica.admin.get_account(handle)["settings"]
        assert not truth[PARTNERS] and not truth[GROK]
    scan(env, [password_of(h) for h in handles])
