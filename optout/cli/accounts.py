"""Accounts and this machine: accounts, session, login, logout, doctor (secrets live in the OS keyring)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from optout.cli.common import HandleArg, JsonOpt, app, command, done, state

accounts_app = typer.Typer(help="The accounts whose passwords are in the OS keyring.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
session_app = typer.Typer(help="X sessions (cookies) kept in the OS keyring.", no_args_is_help=True)
app.add_typer(session_app, name="session")


@command(accounts_app, "add")
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

    info = add_account(CredentialStore(state(ctx).settings()), handle, prompter=Prompter(), stdin=sys.stdin,
                       password_stdin=password_stdin, totp_secret_stdin=totp_secret_stdin,
                       username=username, phone=phone, email=email)
    print_accounts([info], as_json=as_json)
    done(0)


@command(accounts_app, "list")
def accounts_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The stored accounts and what is stored for each (never the values)."""
    from optout.accounts import list_accounts
    from optout.credentials import CredentialStore
    from optout.render import print_accounts

    print_accounts(list_accounts(CredentialStore(state(ctx).settings())), as_json=as_json)
    done(0)


@command(accounts_app, "remove")
def accounts_remove(ctx: typer.Context, handle: HandleArg, as_json: JsonOpt = False) -> None:
    """Forget everything stored for an account: password, TOTP secret, identifiers, session."""
    from optout.accounts import remove_account
    from optout.credentials import CredentialStore
    from optout.render import print_message

    key = remove_account(CredentialStore(state(ctx).settings()), handle)
    print_message(f"Removed @{key} from the keyring.", as_json=as_json, handle=key, removed=True)
    done(0)


@command(app)
def logout(ctx: typer.Context, handle: HandleArg, as_json: JsonOpt = False) -> None:
    """Forget the stored X session of an account (the next run logs in again). X itself is not told."""
    from optout.accounts import forget_session
    from optout.credentials import CredentialStore, normalize_handle
    from optout.render import print_message

    key = normalize_handle(handle)
    forgot = forget_session(CredentialStore(state(ctx).settings()), key)
    message = f"Forgot the stored session of @{key}." if forgot else f"No session was stored for @{key}."
    print_message(message, as_json=as_json, handle=key, forgotten=forgot)
    done(0)


@command(session_app, "import")
def session_import(
    ctx: typer.Context,
    handle: HandleArg,
    from_stdin: Annotated[bool, typer.Option("--stdin", help="Read auth_token (line 1) and ct0 (line 2) from stdin.")] = False,
    from_browser: Annotated[Optional[str], typer.Option(
        "--from-browser", metavar="BROWSER",
        help="Read the session from your own browser: chrome, chromium, brave, edge, firefox or safari.")] = None,
    browser_profile: Annotated[Optional[Path], typer.Option(
        "--browser-profile", metavar="PATH",
        help="With --from-browser: the browser's user-data folder, or one profile folder in it.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store the X session of your own logged-in browser, for accounts whose automated login X blocks:
    read from the browser (--from-browser: only auth_token, ct0 and twid of the site, checked alive
    before it is kept), or the auth_token and ct0 cookies typed in (hidden input) or piped (--stdin)."""
    from optout.credentials import CredentialStore
    from optout.render import print_accounts

    settings = state(ctx).settings()
    if from_browser:
        import asyncio

        from optout.session_import import import_from_browser

        info = asyncio.run(import_from_browser(settings, CredentialStore(settings), handle, from_browser,
                                               browser_profile))
    else:
        from optout.accounts import import_session
        from optout.prompts import Prompter

        info = import_session(CredentialStore(settings), handle, prompter=Prompter(), stdin=sys.stdin,
                              from_stdin=from_stdin)
    print_accounts([info], as_json=as_json)
    done(0)


@command(app)
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
    from optout.login_flow import login_account
    from optout.prompts import Prompter
    from optout.render import print_login

    settings = state(ctx).settings()
    report = asyncio.run(login_account(settings, handle, store=CredentialStore(settings), prompter=Prompter(),
                                       interactive=interactive, wait_s=wait))
    print_login(report, as_json=as_json)
    done(0)


@command(app)
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

    report = run_doctor(state(ctx).settings(), browser_only=browser_only)
    print_doctor(report, as_json=as_json)
    done(ExitCode.OK if report.ok else ExitCode.ENVIRONMENT)


@command(accounts_app, "import")
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

    report = import_credentials(CredentialStore(state(ctx).settings()), file, stdin=sys.stdin)
    print_import(report, as_json=as_json)
    done(0)


proxy_app = typer.Typer(help="Proxies: a proxy user's password, kept in the OS keyring.", no_args_is_help=True)
app.add_typer(proxy_app, name="proxy")


@command(proxy_app, "password")
def proxy_password(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The proxy as scheme://user@host:port (no password in it).")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin (one line).")] = False,
) -> None:
    """Store the password of a proxy user in the OS keyring; config and accounts files name the proxy
    without it."""
    from optout.accounts import store_proxy_password
    from optout.credentials import CredentialStore
    from optout.prompts import Prompter

    shown = store_proxy_password(CredentialStore(state(ctx).settings()), url, prompter=Prompter(), stdin=sys.stdin,
                                 from_stdin=password_stdin)
    print(f"Stored the password for {shown}.")
    done(0)
