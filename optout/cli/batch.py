"""The batch command: many accounts from a file, paced, resumable, shardable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from optout.cli.common import (
    AllOpt,
    ConcurrencyOpt,
    JsonOpt,
    MaxChallengesOpt,
    OutOpt,
    PaceOpt,
    SettingOpt,
    app,
    command,
    done,
    pool_options,
    state,
)


@command(app)
def batch(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Accounts file: .toml (\\[\\[account]] tables), .yaml or .csv (handle,settings,tags).")],
    concurrency: ConcurrencyOpt = None,
    pace: PaceOpt = None,
    check_only: Annotated[bool, typer.Option("--check-only", help="Read only; exit 4 when a setting is on.")] = False,
    setting: SettingOpt = None,
    all_: AllOpt = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished batch of this file: only accounts not yet done.")] = False,
    run_id: Annotated[Optional[int], typer.Option("--run-id", help="With --resume: continue this batch run instead of the latest.")] = None,
    shard: Annotated[Optional[str], typer.Option("--shard", help="I/N: take share I of N (stable split by handle), e.g. 2/4.")] = None,
    browser_endpoint: Annotated[Optional[str], typer.Option("--browser-endpoint", help="ws:// Playwright server or http:// Chrome DevTools endpoint.")] = None,
    out: OutOpt = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write an HTML report of the whole batch here.")] = None,
    max_challenges: MaxChallengesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run many accounts from a file: at most N at once in one browser, paced, gentle with rate limits,
    resumable after a crash, and shardable across machines."""
    from optout.batch import BatchRequest, run_batch
    from optout.batch_render import BatchProgress, print_batch
    from optout.models import Mode

    settings = state(ctx).settings(evidence_dir=out, browser_endpoint=browser_endpoint or None,
                                   **pool_options(concurrency, pace, max_challenges))
    request = BatchRequest(
        file=file, mode=Mode.CHECK if check_only else Mode.APPLY, setting_ids=setting or [], all_settings=all_,
        shard=shard, resume=resume or run_id is not None, run_id=run_id, concurrency=settings.concurrency,
        pace_s=settings.pace_s, max_challenges=settings.max_challenges, report_file=report,
    )
    with BatchProgress(enabled=not as_json) as progress:
        result = run_batch(settings, request, observer=progress)
    print_batch(result, as_json=as_json)
    done(result.exit_code)
