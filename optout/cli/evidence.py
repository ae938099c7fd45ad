"""Evidence commands: run, check (the opt-out itself), verify, report, prune (its proof)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from optout.cli.common import AllOpt, JsonOpt, OutOpt, SettingOpt, app, command, done, state


def _opt_out(ctx: typer.Context, handles: list[str], mode, setting, all_, out, as_json: bool, title: str) -> None:
    from optout import catalog
    from optout.accounts import ensure_stored
    from optout.browser import run_while_browser_starts
    from optout.credentials import CredentialStore
    from optout.prompts import Prompter
    from optout.render import print_not_started, print_results

    settings, prompter = state(ctx).settings(evidence_dir=out), Prompter()
    ids = [spec.id for spec in catalog.select(setting, everything=all_)]
    if not settings.use_browser_session:  # the user's own logged-in browser needs no stored password
        ensure_stored(CredentialStore(settings), handles, prompter, sys.stdin)  # a first run asks for it

    def load_work():
        from optout.orchestrator import opt_out

        return lambda starting: opt_out(settings, handles, mode=mode, setting_ids=ids, prompter=prompter,
                                        starting=starting)

    outcome = run_while_browser_starts(settings, load_work)
    print_results(outcome.results, as_json=as_json, title=title)
    print_not_started(outcome.not_started)
    done(outcome.exit_code)


@command(app)
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


@command(app)
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


@command(app)
def verify(
    ctx: typer.Context,
    path: Annotated[Optional[Path], typer.Argument(help="Evidence folder, a handle's folder or one run's.")] = None,
    public_key: Annotated[Optional[list[Path]], typer.Option("--public-key", help="Trusted public key (from `optout key export`); repeat for several.")] = None,
    tsa_cert: Annotated[Optional[list[Path]], typer.Option("--tsa-cert", help="Root certificate of your RFC 3161 time-stamping authority.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the evidence: every image's SHA-256, each handle's chain of receipts and their signatures."""
    from optout.evidence import verify_tree
    from optout.render import print_verify
    from optout.signing import load_public_keys
    from optout.store import recorded_receipts
    from optout.timestamp import load_roots

    settings = state(ctx).settings()
    trusted = load_public_keys(public_key) if public_key else None
    roots = load_roots(tsa_cert) if tsa_cert else None
    hashes, routine = recorded_receipts(settings)
    report = verify_tree(path or settings.evidence_root, hashes, routine, trusted_keys=trusted, tsa_roots=roots)
    print_verify(report, as_json=as_json)
    done(0 if report.ok else 1)


@command(app)
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

    settings = state(ctx).settings()
    receipts = latest_receipts(evidence or settings.evidence_root, handles)
    path = build_report(receipts, out, embed=embed, recorded=recorded_receipts(settings)[0])
    print(f"Report of {len(receipts)} account(s): {path}")
    done(0)


@command(app)
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

    report = prune_evidence(evidence or state(ctx).settings().evidence_root, older_than_days, handles=handles,
                            dry_run=dry_run)
    print_prune(report, as_json=as_json)
    done(0)


key_app = typer.Typer(help="The key that signs receipts (kept in the OS keyring).", no_args_is_help=True)
app.add_typer(key_app, name="key")


@command(key_app, "export")
def key_export(ctx: typer.Context) -> None:
    """Print the public key (PEM) that checks this machine's receipts: `optout verify --public-key FILE`."""
    from optout.credentials import CredentialStore
    from optout.signing import export_public_key

    _, pem = export_public_key(CredentialStore(state(ctx).settings()))
    print(pem, end="")
    done(0)


@command(key_app, "rotate")
def key_rotate(ctx: typer.Context) -> None:
    """Replace the signing key with a new one that the old one endorses; prints the new public key.
    Export the old public key first: older receipts stay verifiable only with it."""
    from optout.credentials import CredentialStore
    from optout.signing import rotate

    old_id, new_id, pem = rotate(CredentialStore(state(ctx).settings()))
    print(pem, end="")
    print(f"Signing key {old_id} replaced by {new_id}; keep {old_id}'s public key to verify older receipts.",
          file=sys.stderr)
    done(0)
