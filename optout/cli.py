"""The command line: parse, call, render. No logic lives here; every command calls one function of the
package and renders what it returns."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer

from optout import __version__
from optout.config import Settings, load_settings
from optout.errors import OptoutError
from optout.logs import configure_file_log
from optout.render import print_error

app = typer.Typer(
    name="optout",
    help="Opt X accounts out of AI-training data sharing, prove it with evidence, keep it that way.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class AppState:
    """Global options, turned into Settings only when a command needs them."""

    overrides: dict = field(default_factory=dict)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(**self.overrides)
            configure_file_log(self._settings)
        return self._settings


def _version(value: bool) -> None:
    if value:
        print(f"optout {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    base_url: Annotated[Optional[str], typer.Option(help="X's address; the replica's for tests. Env OPTOUT_BASE_URL.")] = None,
    browser: Annotated[Optional[Path], typer.Option(help="Chromium/Chrome executable. Env OPTOUT_BROWSER.")] = None,
    headed: Annotated[bool, typer.Option("--headed", help="Show the browser window.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    ctx.obj = AppState({"base_url": base_url, "browser_path": browser, "headless": False if headed else None})


def state(ctx: typer.Context) -> AppState:
    return ctx.obj


def main() -> None:
    """Entry point: one place turns expected failures into a paragraph and an exit code.
    Commands end with `raise typer.Exit(code)`; usage errors exit 2 through Typer itself."""
    as_json = "--json" in sys.argv
    try:
        app()
    except OptoutError as error:
        print_error(error, as_json=as_json)
        sys.exit(int(error.exit_code))


def done(code: int) -> None:
    """End a command with its exit code."""
    raise typer.Exit(int(code))


# ---- run / check / verify (the opt-out itself) ----

SettingOpt = Annotated[
    Optional[list[str]],
    typer.Option("--setting", "-s", help="A setting id (repeatable); default business-partners and grok-training."),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every setting in the catalog.")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Evidence folder (default <user data dir>/evidence).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ConcurrencyOpt = Annotated[Optional[int], typer.Option(
    "--concurrency", "-c", min=1, help="Accounts at once, one browser context each (config: concurrency; default 2).")]
PaceOpt = Annotated[Optional[float], typer.Option(
    "--pace", min=0, help="Seconds between account starts, +/- 50% jitter (config: pace_s; default 0).")]
MaxChallengesOpt = Annotated[Optional[int], typer.Option(
    "--max-challenges", min=0, help="Stop starting accounts after K login challenges in a row; 0: never (default 3).")]


def _pool_options(ctx: typer.Context, concurrency: int | None, pace: float | None, max_challenges: int | None) -> Settings:
    """Options given on the command line beat config.toml and OPTOUT_* for batch and recheck alike."""
    given = {"concurrency": concurrency, "pace_s": pace, "max_challenges": max_challenges}
    state(ctx).overrides.update({k: v for k, v in given.items() if v is not None})
    return state(ctx).settings


def _opt_out(ctx: typer.Context, handles: list[str], mode, setting, all_, out, as_json: bool, title: str) -> None:
    from optout import catalog, runner
    from optout.models import overall_exit_code
    from optout.prompts import Prompter
    from optout.render import print_results

    if out is not None:
        state(ctx).overrides["evidence_dir"] = out
    ids = [spec.id for spec in catalog.select(setting, everything=all_)]
    results = runner.run(state(ctx).settings, handles, mode=mode, setting_ids=ids, prompter=Prompter())
    print_results(results, as_json=as_json, title=title)
    done(overall_exit_code(results))


@app.command()
def run(
    ctx: typer.Context,
    handles: Annotated[list[str], typer.Argument(help="X handles, e.g. @alice.")],
    setting: SettingOpt = None,
    all_: AllOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would change; change nothing.")] = False,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Switch the data-sharing settings off, verify each after a reload, and keep the evidence."""
    from optout.models import Mode

    mode = Mode.DRY_RUN if dry_run else Mode.APPLY
    _opt_out(ctx, handles, mode, setting, all_, out, as_json, "optout run" + (" (dry run)" if dry_run else ""))


@app.command()
def check(
    ctx: typer.Context,
    handles: Annotated[list[str], typer.Argument(help="X handles, e.g. @alice.")],
    setting: SettingOpt = None,
    all_: AllOpt = False,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read the settings without clicking anything; exit 4 when one is on (drift)."""
    from optout.models import Mode

    _opt_out(ctx, handles, Mode.CHECK, setting, all_, out, as_json, "optout check")


@app.command()
def verify(
    ctx: typer.Context,
    path: Annotated[Optional[Path], typer.Argument(help="Evidence folder, a handle's folder or one run's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the evidence: every image's SHA-256 and each handle's chain of receipts."""
    from optout.evidence import verify_tree
    from optout.render import print_verify
    from optout.store import recorded_receipts

    settings = state(ctx).settings
    hashes, routine = recorded_receipts(settings)
    report = verify_tree(path or settings.evidence_root, hashes, routine)
    print_verify(report, as_json=as_json)
    done(0 if report.ok else 1)


@app.command()
def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Where to write the HTML page.")] = Path("optout-report.html"),
    handles: Annotated[Optional[list[str]], typer.Argument(help="Only these handles (default: all).")] = None,
    evidence: Annotated[Optional[Path], typer.Option("--evidence", help="Evidence folder to read.")] = None,
    embed: Annotated[Optional[bool], typer.Option("--embed/--link", help="Embed images (default) or link them.")] = None,
) -> None:
    """Write an HTML page of each account's latest result, before/after screenshots side by side."""
    from optout.report import build_report, latest_receipts
    from optout.store import recorded_receipts

    settings = state(ctx).settings
    receipts = latest_receipts(evidence or settings.evidence_root, handles)
    path = build_report(receipts, out, embed=embed, recorded=recorded_receipts(settings)[0])
    print(f"Report of {len(receipts)} account(s): {path}")
    done(0)


@app.command()
def prune(
    ctx: typer.Context,
    older_than_days: Annotated[float, typer.Option(
        "--older-than-days", min=0, help="Remove routine runs that finished more than this many days ago.")],
    handles: Annotated[Optional[list[str]], typer.Argument(help="Only these handles (default: all).")] = None,
    evidence: Annotated[Optional[Path], typer.Option("--evidence", help="Evidence folder (default: the configured one).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; remove nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove old routine evidence (runs that changed nothing and found every setting off), keeping every
    run that switched something off, found drift or failed, and each account's newest; verify still passes."""
    from optout.prune import prune as prune_evidence
    from optout.render import print_prune

    report = prune_evidence(evidence or state(ctx).settings.evidence_root, older_than_days, handles=handles,
                            dry_run=dry_run)
    print_prune(report, as_json=as_json)
    done(0)


# ---- batch (issue 6): many accounts from a file, paced, resumable, shardable ----


@app.command()
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

    overrides = state(ctx).overrides
    overrides.update({k: v for k, v in (("evidence_dir", out), ("browser_endpoint", browser_endpoint)) if v})
    pool = _pool_options(ctx, concurrency, pace, max_challenges)
    request = BatchRequest(
        file=file, mode=Mode.CHECK if check_only else Mode.APPLY, setting_ids=setting or [], all_settings=all_,
        shard=shard, resume=resume or run_id is not None, run_id=run_id, concurrency=pool.concurrency,
        pace_s=pool.pace_s, max_challenges=pool.max_challenges, report_file=report,
    )
    with BatchProgress(enabled=not as_json) as progress:
        result = run_batch(state(ctx).settings, request, observer=progress)
    print_batch(result, as_json=as_json)
    done(result.exit_code)


# ---- history, policy, recheck, schedule (issue 5): staying opted out ----


@app.command()
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

    entries = store.history(state(ctx).settings, normalize_handle(handle) if handle else None, limit)
    print_history(entries, as_json=as_json)
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

    print_policy(policy.show_current(state(ctx).settings), as_json=as_json)
    done(0)


@policy_app.command("diff")
def policy_diff(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """What changed between the last two versions seen: a summary, then a unified diff."""
    from optout import policy
    from optout.render import print_policy_diff

    print_policy_diff(policy.latest_diff(state(ctx).settings), as_json=as_json)
    done(0)


@app.command()
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

    settings = _pool_options(ctx, concurrency, pace, max_challenges)
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


@schedule_app.command("install")
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

    print_schedule(schedule.install(state(ctx).settings, every, backend, dry_run=dry_run), as_json=as_json,
                   dry_run=dry_run)
    done(0)


@schedule_app.command("status")
def schedule_status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Whether a scheduled recheck is installed, where, and when it runs next."""
    from optout import schedule
    from optout.render import print_schedule

    print_schedule(schedule.status(state(ctx).settings), as_json=as_json)
    done(0)


@schedule_app.command("remove")
def schedule_remove(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Remove the scheduled recheck."""
    from optout import schedule
    from optout.render import print_schedule

    print_schedule(schedule.remove(state(ctx).settings), as_json=as_json, removed=True)
    done(0)



# ---- accounts, sessions, login, doctor (issue 3): secrets in the OS keyring ----

accounts_app = typer.Typer(help="The accounts whose passwords are in the OS keyring.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
session_app = typer.Typer(help="X sessions (cookies) kept in the OS keyring.", no_args_is_help=True)
app.add_typer(session_app, name="session")
HandleArg = Annotated[str, typer.Argument(help="X handle, e.g. @alice.")]


@accounts_app.command("add")
def accounts_add(
    ctx: typer.Context,
    handle: HandleArg,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")] = False,
    totp_secret_stdin: Annotated[bool, typer.Option("--totp-secret-stdin", help="Read the TOTP secret from the next line of stdin.")] = False,
    username: Annotated[Optional[str], typer.Option(help="Answer for X's 'unusual activity' screen.")] = None,
    phone: Annotated[Optional[str], typer.Option(help="Phone number X knows, for the 'unusual activity' screen.")] = None,
    email: Annotated[Optional[str], typer.Option(help="Email address X knows, for the unusual-activity/email screens.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store (or replace) an account's password, and optionally its TOTP secret, in the OS keyring.
    Secrets come from hidden prompts or stdin, never from arguments or the environment."""
    from optout.accounts import add_account
    from optout.credentials import CredentialStore
    from optout.prompts import Prompter
    from optout.render import print_accounts

    info = add_account(CredentialStore(state(ctx).settings), handle, prompter=Prompter(), stdin=sys.stdin,
                       password_stdin=password_stdin, totp_secret_stdin=totp_secret_stdin,
                       username=username, phone=phone, email=email)
    print_accounts([info], as_json=as_json)
    done(0)


@accounts_app.command("list")
def accounts_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The stored accounts and what is stored for each (never the values)."""
    from optout.accounts import list_accounts
    from optout.credentials import CredentialStore
    from optout.render import print_accounts

    print_accounts(list_accounts(CredentialStore(state(ctx).settings)), as_json=as_json)
    done(0)


@accounts_app.command("remove")
def accounts_remove(ctx: typer.Context, handle: HandleArg, as_json: JsonOpt = False) -> None:
    """Forget everything stored for an account: password, TOTP secret, identifiers, session."""
    from optout.accounts import remove_account
    from optout.credentials import CredentialStore
    from optout.render import print_message

    key = remove_account(CredentialStore(state(ctx).settings), handle)
    print_message(f"Removed @{key} from the keyring.", as_json=as_json, handle=key, removed=True)
    done(0)


@app.command()
def logout(ctx: typer.Context, handle: HandleArg, as_json: JsonOpt = False) -> None:
    """Forget the stored X session of an account (the next run logs in again). X itself is not told."""
    from optout.accounts import forget_session
    from optout.credentials import CredentialStore, normalize_handle
    from optout.render import print_message

    key = normalize_handle(handle)
    forgot = forget_session(CredentialStore(state(ctx).settings), key)
    message = f"Forgot the stored session of @{key}." if forgot else f"No session was stored for @{key}."
    print_message(message, as_json=as_json, handle=key, forgotten=forgot)
    done(0)


@session_app.command("import")
def session_import(
    ctx: typer.Context,
    handle: HandleArg,
    from_stdin: Annotated[bool, typer.Option("--stdin", help="Read auth_token (line 1) and ct0 (line 2) from stdin.")] = False,
    from_browser: Annotated[str | None, typer.Option(
        "--from-browser", metavar="BROWSER",
        help="Read the session from your own browser: chrome, chromium, brave, edge, firefox or safari.")] = None,
    browser_profile: Annotated[Path | None, typer.Option(
        "--browser-profile", metavar="PATH",
        help="With --from-browser: the browser's user-data folder, or one profile folder in it.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store the X session of your own logged-in browser, for accounts whose automated login X blocks:
    read from the browser (--from-browser; only auth_token, ct0 and twid of the site, checked alive),
    or the auth_token and ct0 cookies typed in (hidden input) or piped (--stdin)."""
    from optout.credentials import CredentialStore
    from optout.render import print_accounts

    store = CredentialStore(state(ctx).settings)
    if from_browser:
        from optout.session_import import import_from_browser

        info = asyncio.run(import_from_browser(state(ctx).settings, store, handle, from_browser, browser_profile))
    else:
        from optout.accounts import import_session
        from optout.prompts import Prompter

        info = import_session(store, handle, prompter=Prompter(), stdin=sys.stdin, from_stdin=from_stdin)
    print_accounts([info], as_json=as_json)
    done(0)


@app.command()
def login(
    ctx: typer.Context,
    handle: HandleArg,
    interactive: Annotated[bool, typer.Option("--interactive", help="Open a visible browser; you finish the login.")] = False,
    wait: Annotated[int, typer.Option("--wait", min=10, help="With --interactive: seconds to wait for you.")] = 600,
    as_json: JsonOpt = False,
) -> None:
    """Log in (only if the stored session is dead) and store the session. With --interactive a visible
    browser opens with the account name filled in; you do the rest (captcha, email code...)."""
    import asyncio

    from optout.credentials import CredentialStore
    from optout.prompts import Prompter
    from optout.render import print_login
    from optout.x.login import login_account

    settings = state(ctx).settings
    report = asyncio.run(login_account(settings, handle, store=CredentialStore(settings), prompter=Prompter(),
                                       interactive=interactive, wait_s=wait))
    print_login(report, as_json=as_json)
    done(0)


@app.command()
def doctor(
    ctx: typer.Context,
    browser_only: Annotated[bool, typer.Option("--browser-only", help="Only check that a browser is found (fast).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Is this machine ready? Browser, keyring, folders and base URL, each OK or what to do. Exit 5 when
    a required part (browser, keyring) does not work."""
    from optout.doctor import run_doctor
    from optout.errors import ExitCode
    from optout.render import print_doctor

    report = run_doctor(state(ctx).settings, browser_only=browser_only)
    print_doctor(report, as_json=as_json)
    done(ExitCode.OK if report.ok else ExitCode.ENVIRONMENT)


# ---- accounts import (issue 6): many accounts' credentials at once ----


@accounts_app.command("import")
def accounts_import(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="CSV of handle,password[,totp] (header optional), or - for stdin.")],
    as_json: JsonOpt = False,
) -> None:
    """Store many accounts' passwords (and TOTP secrets) in the OS keyring from a CSV; nothing is echoed,
    nothing is stored unless every row is valid. Delete the plaintext file afterwards."""
    from optout.accounts_import import import_credentials
    from optout.batch_render import print_import
    from optout.credentials import CredentialStore

    report = import_credentials(CredentialStore(state(ctx).settings), file, stdin=sys.stdin)
    print_import(report, as_json=as_json)
    done(0)


if __name__ == "__main__":
    main()
