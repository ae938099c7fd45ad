"""Staying opted out: history, policy, recheck, schedule (installed schedules call `optout recheck --all`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from optout.cli.common import (
    ConcurrencyOpt,
    JsonOpt,
    MaxChallengesOpt,
    PaceOpt,
    app,
    command,
    done,
    pool_options,
    state,
)


@command(app)
def history(
    ctx: typer.Context,
    handle: Annotated[Optional[str], typer.Argument(help="Only this account, e.g. @alice.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many results, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Past runs and their outcomes, per account, from the history database."""
    from optout import store
    from optout.credentials import normalize_handle
    from optout.render import print_history

    from optout import recheck_failure

    settings = state(ctx).settings()
    entries = store.history(settings, normalize_handle(handle) if handle else None, limit)
    failure = recheck_failure.load(settings)
    print_history(entries, as_json=as_json, recheck_failure=failure)
    done(0)


policy_app = typer.Typer(help="X's privacy policy: the current version, and what changed.", no_args_is_help=False)
app.add_typer(policy_app, name="policy")


@policy_app.callback(invoke_without_command=True)
def policy_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Read X's privacy policy now: its effective date, when this version was first seen, whether it is new."""
    if ctx.invoked_subcommand:
        return
    from optout import policy
    from optout.render import print_policy

    print_policy(policy.show_current(state(ctx).settings()), as_json=as_json)
    done(0)


@command(policy_app, "diff")
def policy_diff(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """What changed between the last two versions seen: a summary, then a unified diff."""
    from optout import policy
    from optout.render import print_policy_diff

    print_policy_diff(policy.latest_diff(state(ctx).settings()), as_json=as_json)
    done(0)


@command(app)
def recheck(
    ctx: typer.Context,
    handles: Annotated[Optional[list[str]], typer.Argument(help="X handles; or --all.")] = None,
    all_accounts: Annotated[bool, typer.Option("--all", help="Every stored account.")] = False,
    report_only: Annotated[bool, typer.Option("--report-only", help="Change nothing; exit 4 on drift.")] = False,
    if_policy_changed: Annotated[bool, typer.Option(
        "--if-policy-changed", help="Touch the accounts only when the policy changed since the last recheck.")] = False,
    notify_always: Annotated[bool, typer.Option("--notify-always", help="Notify even when nothing happened.")] = False,
    concurrency: ConcurrencyOpt = None,
    pace: PaceOpt = None,
    max_challenges: MaxChallengesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the policy, then re-check each account with its saved session and switch back off what flipped on."""
    from optout.batch_render import BatchProgress
    from optout.prompts import Prompter
    from optout.recheck import run_recheck
    from optout.render import print_recheck

    settings = state(ctx).settings(**pool_options(concurrency, pace, max_challenges))
    prompter = Prompter()
    # One account at a time at a terminal may ask for a code: a live bar would draw over the question.
    bar = not as_json and (settings.concurrency > 1 or not prompter.interactive)
    with BatchProgress(enabled=bar, label="recheck") as progress:
        report = run_recheck(settings, handles or [], all_accounts=all_accounts, report_only=report_only,
                             if_policy_changed=if_policy_changed, notify_always=notify_always, prompter=prompter,
                             observer=progress)
    print_recheck(report, as_json=as_json)
    done(report.exit_code)


schedule_app = typer.Typer(help="Run `optout recheck --all` on a schedule (systemd, cron, launchd, schtasks).",
                           no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")


@command(schedule_app, "install")
def schedule_install(
    ctx: typer.Context,
    every: Annotated[str, typer.Option("--every", help="daily, weekly, or a cron expression ('30 6 * * 1-5').")] = "daily",
    backend: Annotated[str, typer.Option("--backend", help="auto, systemd, cron, launchd or schtasks.")] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be written and run.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Install (or replace) the scheduled recheck."""
    from optout import schedule
    from optout.render import print_schedule

    print_schedule(schedule.install(state(ctx).settings(), every, backend, dry_run=dry_run), as_json=as_json,
                   dry_run=dry_run)
    done(0)


@command(schedule_app, "status")
def schedule_status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Whether a scheduled recheck is installed, where, and when it runs next."""
    from optout import schedule
    from optout.render import print_schedule

    print_schedule(schedule.status(state(ctx).settings()), as_json=as_json)
    done(0)


@command(schedule_app, "remove")
def schedule_remove(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Remove the scheduled recheck."""
    from optout import schedule
    from optout.render import print_schedule

    print_schedule(schedule.remove(state(ctx).settings()), as_json=as_json, removed=True)
    done(0)
