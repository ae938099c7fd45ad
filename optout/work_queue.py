"""A pool of N workers that takes accounts from one queue, paced and gentle with X. Batch mode and the
re-check both run their accounts through it; it knows nothing of files, keyrings or browsers, so its rules
can be tested with a fake work function:
- pacing: starts are spaced by `pace_s` with +/- `jitter` (a fraction), across all workers;
- rate limits: a rate_limited account gives its slot back, waits until X's reset time (when that is
  within `rate_limit_max_wait_s`) and is retried up to `rate_limit_retries` times, and the pace of the
  whole pool goes up (at least `slow_pace_s`, doubled on every further limit, at most MAX_PACE_S);
- challenges: after `max_challenges` needs_human outcomes in a row the breaker opens and no new account
  starts (not even one with a saved session: a dead session would mean a fresh login, exactly what X
  is refusing). Accounts in flight finish; the rest are reported as not started.
Every finished account is handed to `on_result` at once, so the caller can commit it before the next."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from optout.models import AccountOutcome, AccountResult

DEFAULT_RATE_LIMIT_WAIT_S = 60.0  # when X gives no reset time
MIN_RATE_LIMIT_WAIT_S = 1.0  # X's reset time is in whole seconds: never retry before it has surely passed
MAX_PACE_S = 120.0  # however often X rate-limits, the pool still starts an account every two minutes


@dataclass(frozen=True)
class AccountJob:
    """One account for the queue: its handle as the user wrote it, and the setting ids to do (None: the
    default ones). The queue's own type, so it depends on no input file format."""

    handle: str
    settings: tuple[str, ...] | None = None
    proxy: str | None = None  # this account's proxy URL (optout.proxy); None: settings.proxy


@dataclass
class Pacing:
    concurrency: int = 2
    pace_s: float = 0.0  # seconds between account starts
    jitter: float = 0.5  # each gap is pace_s * (1 +/- jitter), so starts do not tick like a clock
    max_challenges: int = 3  # 0 turns the breaker off
    rate_limit_retries: int = 2
    rate_limit_max_wait_s: float = 900.0
    slow_pace_s: float = 5.0  # the least pace after a rate limit (config: rate_limit_slow_pace_s)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.pace_s < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("pace must be >= 0 and jitter between 0 and 1")


class BatchObserver(Protocol):
    """What the progress display hears about (QuietObserver: no-ops)."""

    def begin(self, total: int) -> None: ...
    def started(self, entry: AccountJob, attempt: int) -> None: ...
    def finished(self, result: AccountResult) -> None: ...
    def notice(self, message: str) -> None: ...


class QuietObserver:
    def begin(self, total: int) -> None:
        pass

    def started(self, entry: AccountJob, attempt: int) -> None:
        pass

    def finished(self, result: AccountResult) -> None:
        pass

    def notice(self, message: str) -> None:
        pass


class Clock:
    """Real time, for the pacer and the rate-limit waits. Tests pass a clock whose `sleep` only moves
    its own time forward, so the pacing rules can be checked exactly and without waiting."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        """Epoch seconds: X's rate-limit reset times are given in these."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Pacer:
    """Spaces account starts across all workers; the pace can only go up during a run."""

    def __init__(self, pacing: Pacing, *, clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.pace_s = pacing.pace_s
        self.jitter = pacing.jitter
        self._clock = clock or Clock()
        self._rng = rng or random.Random()
        self._next_at = 0.0
        self._lock = asyncio.Lock()

    async def wait_turn(self) -> None:
        async with self._lock:
            delay = self._next_at - self._clock.monotonic()
            if delay > 0:
                await self._clock.sleep(delay)
            self._next_at = self._clock.monotonic() + self._gap()

    def _gap(self) -> float:
        if self.pace_s <= 0:
            return 0.0
        return self.pace_s * (1 + self._rng.uniform(-self.jitter, self.jitter))

    def slow_down(self, floor_s: float) -> float:
        self.pace_s = max(self.pace_s, min(MAX_PACE_S, max(floor_s, self.pace_s * 2)))
        return self.pace_s


class ChallengeBreaker:
    """Counts login challenges (needs_human) in a row, in the order accounts finish."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_a_row = 0
        self.open = False

    def record(self, outcome: AccountOutcome) -> bool:
        """True when this outcome opened the breaker."""
        if outcome != AccountOutcome.NEEDS_HUMAN:
            self.in_a_row = 0
            return False
        self.in_a_row += 1
        if self.limit and self.in_a_row >= self.limit and not self.open:
            self.open = True
            return True
        return False


@dataclass
class _Job:
    entry: AccountJob
    attempt: int = 0


@dataclass
class ScheduleOutcome:
    results: list[AccountResult] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    breaker_opened: bool = False
    rate_limit_waits: int = 0
    final_pace_s: float = 0.0


WorkFn = Callable[[AccountJob], Awaitable[AccountResult]]
ResultSink = Callable[[AccountResult], None]


class Scheduler:
    """N workers pulling accounts from one queue; see the module docstring for the rules."""

    def __init__(self, work: WorkFn, pacing: Pacing, *, on_result: ResultSink | None = None,
                 observer: BatchObserver | None = None, clock: Clock | None = None,
                 rng: random.Random | None = None) -> None:
        self.work = work
        self.pacing = pacing
        self.on_result = on_result or (lambda result: None)
        self.observer = observer or QuietObserver()
        self.clock = clock or Clock()
        self.pacer = Pacer(pacing, clock=self.clock, rng=rng)
        self.breaker = ChallengeBreaker(pacing.max_challenges)
        self.outcome = ScheduleOutcome()

    async def run(self, entries: Sequence[AccountJob]) -> ScheduleOutcome:
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._outstanding = len(entries)
        self._timers: set[asyncio.Task] = set()
        for entry in entries:
            self._queue.put_nowait(_Job(entry))
        if not entries:
            return self.outcome
        workers = [asyncio.create_task(self._worker()) for _ in range(min(self.pacing.concurrency, len(entries)))]
        try:
            await asyncio.gather(*workers)
        finally:
            pending = [*workers, *self._timers]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self.outcome.final_pace_s = self.pacer.pace_s
        return self.outcome

    async def _worker(self) -> None:
        while (job := await self._queue.get()) is not None:
            if self.breaker.open:
                self.outcome.not_started.append(job.entry.handle)
                self._job_done()
                continue
            await self.pacer.wait_turn()
            if self.breaker.open:  # it may have opened while this worker waited for its turn
                self.outcome.not_started.append(job.entry.handle)
                self._job_done()
                continue
            self.observer.started(job.entry, job.attempt)
            result = await self.work(job.entry)
            self._handle(job, result)

    def _handle(self, job: _Job, result: AccountResult) -> None:
        if result.outcome == AccountOutcome.RATE_LIMITED and self._retry_later(job, result):
            return
        if self.breaker.record(result.outcome):
            self.outcome.breaker_opened = True
            self.observer.notice(
                f"{self.breaker.in_a_row} login challenges in a row: X seems to be blocking logins from this "
                "machine, so no new account will start."
            )
        self.outcome.results.append(result)
        self.on_result(result)
        self.observer.finished(result)
        self._job_done()

    def _retry_later(self, job: _Job, result: AccountResult) -> bool:
        """Wait for X's reset off the slot, then queue the account again; False when out of patience."""
        if job.attempt >= self.pacing.rate_limit_retries:
            return False
        now = self.clock.wall()
        reset_at = result.rate_limit_reset or now + DEFAULT_RATE_LIMIT_WAIT_S
        wait = max(MIN_RATE_LIMIT_WAIT_S, reset_at - now)
        if wait > self.pacing.rate_limit_max_wait_s:
            return False
        pace = self.pacer.slow_down(self.pacing.slow_pace_s)
        self.outcome.rate_limit_waits += 1
        self.observer.notice(
            f"@{job.entry.handle} was rate limited: retrying in {wait:.0f} s (at "
            f"{datetime.fromtimestamp(self.clock.wall() + wait):%H:%M:%S}); from now on an account "
            f"starts every {pace:.0f} s or so."
        )
        timer = asyncio.create_task(self._requeue(_Job(job.entry, job.attempt + 1), wait))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        return True

    async def _requeue(self, job: _Job, wait: float) -> None:
        await self.clock.sleep(wait)
        self._queue.put_nowait(job)

    def _job_done(self) -> None:
        self._outstanding -= 1
        if self._outstanding == 0:
            for _ in range(self.pacing.concurrency):
                self._queue.put_nowait(None)
