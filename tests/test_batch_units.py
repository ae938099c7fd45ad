"""Batch mode without a browser: the accounts file (three formats, every error names file/line/key),
the shard split, and the scheduler's rules (concurrency, pacing, rate-limit retries, challenge breaker)
driven by a fake work function."""

from __future__ import annotations

import asyncio
import random
import string
import types

import pytest

from optout import catalog, orchestrator, runner
from optout.accounts_file import AccountEntry, load_accounts
from optout.config import load_settings
from optout.work_queue import AccountJob, Clock, Pacing, Scheduler
from optout.errors import BadInput, ExitCode
from optout.models import AccountOutcome, AccountResult, Mode
from optout.runner import MAX_TABS, pages_at_once_for
from optout.shard import parse_shard, partition, shard_number

# ---- accounts file ---------------------------------------------------------------------------------


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_toml_yaml_csv_give_the_same_accounts(tmp_path):
    toml = write(tmp_path, "a.toml", """
[[account]]
handle = "@Alice"
settings = ["business-partners"]
tags = ["newsroom"]

[[account]]
handle = "bob"
""")
    yaml_list = write(tmp_path, "a.yaml", """
- handle: "@Alice"
  settings: [business-partners]
  tags: [newsroom]
- handle: bob
""")
    yaml_map = write(tmp_path, "b.yml", "accounts:\n  - {handle: '@Alice', settings: business-partners, tags: newsroom}\n  - handle: bob\n")
    csv = write(tmp_path, "a.csv", "handle,settings,tags\n@Alice,business-partners,newsroom\nbob,,\n")
    expected = [AccountEntry(handle="Alice", settings=("business-partners",), tags=("newsroom",)),
                AccountEntry(handle="bob")]
    for path in (toml, yaml_list, yaml_map, csv):
        loaded = load_accounts(path)
        assert loaded.accounts == expected, path
        assert loaded.handles == ["alice", "bob"]


def test_settings_all_and_lists_in_a_csv_cell(tmp_path):
    path = write(tmp_path, "a.csv", 'handle,settings\ncarol,all\ndave,"grok-training; business-partners"\n')
    carol, dave = load_accounts(path).accounts
    assert carol.settings == tuple(catalog.all_ids())
    assert dave.settings == ("business-partners", "grok-training")  # catalog order


def bad(path) -> str:
    with pytest.raises(BadInput) as info:
        load_accounts(path)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    return str(info.value)


def test_toml_errors_name_file_line_and_key(tmp_path):
    path = write(tmp_path, "bad.toml", """
[[account]]
handle = "ok_one"

[[account]]
handle = "two"
setings = ["business-partners"]

[[account]]
handle = "three"
settings = ["grok"]

[[account]]
handle = "OK_ONE"
""")
    text = bad(path)
    assert f"{path} line 7 (account #2, key 'setings')" in text and "unknown key" in text
    assert f"{path} line 11 (account #3, key 'settings')" in text and "'grok'" in text
    assert "@ok_one appears twice" in text and "line 14" in text


def test_toml_syntax_error_has_a_line(tmp_path):
    text = bad(write(tmp_path, "bad.toml", '[[account]]\nhandle = "x\n'))
    assert "not valid TOML" in text and "line 2" in text


def test_yaml_errors_name_lines_and_never_quote_the_text(tmp_path):
    text = bad(write(tmp_path, "bad.yaml", "- handle: alice\n- handle: 'no spaces allowed'\n- handle: bob\n  colour: red\n"))
    assert "line 2 (account #2, key 'handle')" in text
    assert "line 4 (account #3, key 'colour')" in text
    syntax = bad(write(tmp_path, "broken.yaml", "- handle: alice\n- handle: [unclosed hunter2secret\n"))
    assert "not valid YAML at line" in syntax and "hunter2secret" not in syntax


def test_csv_errors_name_rows(tmp_path):
    text = bad(write(tmp_path, "bad.csv", "handle,settings\nalice,business-partners\n,grok-training\nbob,nope\nalice,\n"))
    assert "row 3, column 'handle'" in text
    assert "row 4, column 'settings'" in text and "'nope'" in text
    assert "row 5" in text and "appears twice" in text
    header = bad(write(tmp_path, "head.csv", "handle,colour\nalice,red\n"))
    assert "row 1 (header): column 2 is not one of handle, settings, tags" in header
    no_header = bad(write(tmp_path, "nohead.csv", "alice,Hunter2Secret\n"))  # a credentials file, by mistake
    assert "'handle' column" in no_header and "Hunter2Secret" not in no_header.lower() and "hunter2secret" not in no_header


@pytest.mark.parametrize("name,text", [
    ("s.toml", '[[account]]\nhandle = "alice"\npassword = "hunter2hunter2"\n'),
    ("s.yaml", "- handle: alice\n  password: hunter2hunter2\n"),
    ("s.csv", "handle,password\nalice,hunter2hunter2\n"),
])
def test_secrets_are_refused_without_echo(tmp_path, name, text):
    message = bad(write(tmp_path, name, text))
    assert "'password' is not allowed" in message and "optout accounts import" in message
    assert "hunter2hunter2" not in message


def test_unknown_type_and_empty_files(tmp_path):
    assert "unknown accounts file type" in bad(write(tmp_path, "a.json", "[]"))
    assert "lists no accounts" in bad(write(tmp_path, "a.toml", ""))
    assert "lists no accounts" in bad(write(tmp_path, "a.csv", "handle,settings\n"))


# ---- shards ----------------------------------------------------------------------------------------


def test_shards_partition_the_set_for_several_n():
    rng = random.Random(7)
    keys = sorted({"".join(rng.choices(string.ascii_lowercase + string.digits + "_", k=rng.randint(3, 15)))
                   for _ in range(500)})
    for n in (1, 2, 3, 4, 7, 16):
        shares = partition(keys, n)
        flat = [k for share in shares.values() for k in share]
        assert sorted(flat) == keys and len(flat) == len(set(flat))  # disjoint and complete
        if n <= 4:
            assert min(len(s) for s in shares.values()) > len(keys) / n * 0.7  # roughly even
    assert shard_number("alice", 4) == shard_number("alice", 4)
    # A fixed value: the split must never change between versions, machines or Python processes.
    assert [shard_number(k, 4) for k in ("alice", "bob", "carol", "dave")] == [4, 3, 3, 4]


def test_shard_is_stable_across_processes():
    import subprocess
    import sys
    code = "from optout.shard import shard_number; print([shard_number(k, 5) for k in ('alice','bob','zed_9')])"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert len(outs) == 1 and outs.pop().strip() == str([shard_number(k, 5) for k in ("alice", "bob", "zed_9")])


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "2", ""])
def test_bad_shards(text):
    with pytest.raises(BadInput):
        parse_shard(text)
    assert str(parse_shard(" 2 / 3 ")) == "2/3"


# ---- scheduler -------------------------------------------------------------------------------------


def entries(n: int) -> list[AccountJob]:
    return [AccountJob(handle=f"acct{i:02d}") for i in range(n)]


class FakeClock(Clock):
    """Time that passes only when the scheduler sleeps: pacing and rate-limit waits are checked to the
    millisecond, and a 60 s wait costs nothing."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0)
        await asyncio.sleep(0)


class FakeWork:
    """A work function whose outcome per handle is scripted; records concurrency and start times."""

    def __init__(self, script=None, seconds=0.02, clock: Clock | None = None):
        self.script = script or {}
        self.seconds = seconds
        self.clock = clock or Clock()
        self.running = 0
        self.peak = 0
        self.calls: list[tuple[str, float]] = []

    async def __call__(self, entry: AccountJob) -> AccountResult:
        self.calls.append((entry.handle, self.clock.monotonic()))
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(self.seconds)
        self.running -= 1
        outcome = self.script.get(entry.handle, AccountOutcome.OK)
        if callable(outcome):
            outcome = outcome()
        reset = self.clock.wall() + 30 if outcome == AccountOutcome.RATE_LIMITED else None
        return AccountResult(handle=entry.handle, mode=Mode.APPLY, outcome=outcome, rate_limit_reset=reset)


async def test_concurrency_is_bounded_and_every_account_runs_once():
    work = FakeWork(seconds=0.03)
    recorded = []
    outcome = await Scheduler(work, Pacing(concurrency=3), on_result=lambda r: recorded.append(r.handle)).run(entries(10))
    assert work.peak == 3
    assert sorted(h for h, _ in work.calls) == sorted(e.handle for e in entries(10))
    assert sorted(recorded) == sorted(e.handle for e in entries(10))
    assert len(outcome.results) == 10 and not outcome.not_started


async def test_pace_spaces_starts_with_jitter():
    clock = FakeClock()
    work = FakeWork(seconds=0.0, clock=clock)
    await Scheduler(work, Pacing(concurrency=4, pace_s=10, jitter=0.5), clock=clock, rng=random.Random(1)).run(entries(6))
    gaps = [b - a for (_, a), (_, b) in zip(work.calls, work.calls[1:])]
    assert all(5 <= g <= 15 for g in gaps), gaps
    assert max(gaps) - min(gaps) > 0.5  # jittered, not a clock tick


async def test_rate_limited_account_waits_for_reset_is_retried_and_slows_the_batch():
    attempts = iter([AccountOutcome.RATE_LIMITED, AccountOutcome.OK])
    clock = FakeClock()
    work = FakeWork({"acct01": lambda: next(attempts)}, seconds=0, clock=clock)
    notices = []

    class Observer:
        def started(self, entry, attempt): pass
        def finished(self, result): pass
        def notice(self, message): notices.append(message)

    sched = Scheduler(work, Pacing(concurrency=2, slow_pace_s=5, jitter=0), observer=Observer(), clock=clock)
    outcome = await sched.run(entries(4))
    assert [h for h, _ in work.calls].count("acct01") == 2
    first, second = [t for h, t in work.calls if h == "acct01"]
    assert second - first >= 30  # waited for X's reset (30 s after the first attempt)
    assert {r.handle: r.outcome for r in outcome.results}["acct01"] == AccountOutcome.OK
    assert outcome.rate_limit_waits == 1 and outcome.final_pace_s == 5
    assert any("rate limited" in n for n in notices)


async def test_rate_limit_retries_are_bounded():
    clock = FakeClock()
    work = FakeWork({"acct00": AccountOutcome.RATE_LIMITED}, seconds=0, clock=clock)
    outcome = await Scheduler(work, Pacing(concurrency=1, rate_limit_retries=2, slow_pace_s=0.01), clock=clock).run(entries(1))
    assert len(work.calls) == 3
    assert [r.outcome for r in outcome.results] == [AccountOutcome.RATE_LIMITED]


async def test_rate_limit_reset_beyond_the_cap_is_not_waited_for():
    clock = FakeClock()
    work = FakeWork({"acct00": AccountOutcome.RATE_LIMITED}, seconds=0, clock=clock)
    outcome = await Scheduler(work, Pacing(concurrency=1, rate_limit_max_wait_s=29), clock=clock).run(entries(1))
    assert len(work.calls) == 1 and outcome.rate_limit_waits == 0


async def test_breaker_opens_after_k_challenges_in_a_row():
    script = {f"acct{i:02d}": AccountOutcome.NEEDS_HUMAN for i in (1, 3, 4, 5)}
    work = FakeWork(script, seconds=0.01)
    recorded = []
    outcome = await Scheduler(work, Pacing(concurrency=1, max_challenges=3),
                              on_result=lambda r: recorded.append(r.handle)).run(entries(10))
    # acct01 is alone (acct02 ok resets the count); acct03..05 make three in a row.
    assert [h for h, _ in work.calls] == [f"acct{i:02d}" for i in range(6)]
    assert outcome.breaker_opened
    assert outcome.not_started == [f"acct{i:02d}" for i in range(6, 10)]
    assert recorded == [f"acct{i:02d}" for i in range(6)]  # the rest are not written: resume does them


async def test_breaker_off_with_zero():
    work = FakeWork({f"acct{i:02d}": AccountOutcome.NEEDS_HUMAN for i in range(5)}, seconds=0)
    outcome = await Scheduler(work, Pacing(concurrency=2, max_challenges=0)).run(entries(5))
    assert len(work.calls) == 5 and not outcome.breaker_opened


def test_pace_after_rate_limits_doubles_up_to_a_cap_and_never_drops():
    from optout.work_queue import MAX_PACE_S, Pacer

    pacer = Pacer(Pacing(pace_s=0))
    assert [pacer.slow_down(5) for _ in range(7)] == [5, 10, 20, 40, 80, MAX_PACE_S, MAX_PACE_S]
    slow = Pacer(Pacing(pace_s=300))
    assert slow.slow_down(5) == 300


def test_batch_shards_of_a_file_partition_it(tmp_path):
    from optout.batch import BatchRequest, plan_batch

    handles = [f"user_{i}" for i in range(60)]
    path = write(tmp_path, "a.csv", "handle\n" + "\n".join(handles) + "\n")
    for n in (2, 3, 5):
        shares = [[e.key for e in plan_batch(BatchRequest(file=path, shard=f"{i}/{n}")).entries] for i in range(1, n + 1)]
        assert sorted(h for share in shares for h in share) == sorted(handles)
        assert all(share for share in shares)  # 60 handles: no share is empty
    with pytest.raises(BadInput):
        plan_batch(BatchRequest(file=path, shard="4/3"))


def test_progress_bar_counts_outcomes_on_a_terminal_only():
    import io

    from rich.console import Console

    from optout.batch_render import BatchProgress

    for terminal in (True, False):
        buffer = io.StringIO()
        stream = Console(file=buffer, force_terminal=terminal, width=120)
        with BatchProgress(enabled=True, stream=stream) as progress:
            progress.begin(3)
            for outcome in ("ok", "ok", "needs_human"):
                progress.finished(AccountResult(handle="a", mode=Mode.APPLY, outcome=outcome))
            progress.progress.refresh()
            progress.notice("X rate-limited @a")
        text = buffer.getvalue()
        assert "X rate-limited @a" in text  # notices always show
        assert ("3/3" in text and "needs_human" in text) is terminal
        assert progress.counts == {"ok": 2, "needs_human": 1}


@pytest.mark.parametrize(("concurrency", "cores", "pages"), [(1, 2, MAX_TABS), (2, 2, MAX_TABS), (3, 2, 1), (8, 2, 1),
                                                             (8, 8, MAX_TABS), (1, 1, MAX_TABS)])
def test_pages_load_at_once_only_while_the_accounts_in_flight_leave_cores_to_spare(concurrency, cores, pages):
    """One account at a time waits on X most of the time; more accounts than cores keep the cores busy."""
    assert pages_at_once_for(concurrency, cores) == pages


class _NoBrowser:
    """What run_accounts needs of a started browser when run_account is replaced: a session to hand on."""

    async def session(self):
        return types.SimpleNamespace(browser=types.SimpleNamespace(on=lambda *_: None))


@pytest.mark.parametrize(("accounts", "concurrency", "endpoint", "pages"), [
    (5, 1, None, MAX_TABS), (5, 2, None, MAX_TABS), (5, 8, None, 1), (2, 8, None, MAX_TABS),
    (5, 8, "ws://127.0.0.1:9/", MAX_TABS)])
async def test_the_batch_tells_each_account_how_many_pages_to_load_at_once(monkeypatch, tmp_path, accounts, concurrency,
                                                                           endpoint, pages):
    """On 2 cores: pages at once while the accounts that can run together (the concurrency, or fewer
    accounts) leave cores to spare; a remote browser's cores are not this machine's."""
    told = []

    async def run_account(session, handle, settings, **options):
        told.append(options["pages_at_once"])
        return AccountResult(handle=handle, mode=Mode.CHECK, outcome=AccountOutcome.OK)

    monkeypatch.setattr(orchestrator, "run_account", run_account)
    monkeypatch.setattr(runner, "_cores", lambda: 2)
    monkeypatch.delenv("OPTOUT_BROWSER_ENDPOINT", raising=False)  # the suite's shared browser
    settings = load_settings(data_dir=tmp_path / "data", state_dir=tmp_path / "state", browser_endpoint=endpoint)
    history = types.SimpleNamespace(record_result=lambda *_: None)
    jobs = [AccountJob(f"acct_{i}") for i in range(accounts)]
    await orchestrator.run_accounts(settings, jobs, mode=Mode.CHECK, history=history, run_id=1,
                                    pacing=Pacing(concurrency=concurrency), credentials=None, policy_version=None,
                                    browser=_NoBrowser())
    assert told == [pages] * accounts


@pytest.mark.parametrize(("cpu_max", "cores"), [("max 100000\n", None), ("150000 100000\n", 2), ("50000 100000\n", 1),
                                                ("200000 100000\n", 2), ("garbage\n", None)])
def test_a_containers_cpu_quota_counts_as_its_cores(tmp_path, cpu_max, cores):
    (tmp_path / "cpu.max").write_text(cpu_max)
    assert runner._cgroup_quota(tmp_path / "cpu.max") == cores
    assert runner._cgroup_quota(tmp_path / "no-such-file") is None
