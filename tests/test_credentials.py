"""Credentials in the real OS keyring (Secret Service in a private D-Bus session): the store itself, the
`accounts`, `logout` and `session import` commands as a user runs them, the no-keyring error, and a
scan proving no secret reached a file or the output."""

from __future__ import annotations

import json
import time
import uuid

import pyotp
import pytest
from pydantic import SecretStr

from optout.config import load_settings
from optout.credentials import Credentials, CredentialStore, SessionCookies, normalize_handle
from optout.errors import BadInput, UnknownAccount
from tests.secrets_scan import find_leaks
from tests.terminal import run_in_terminal

PASSWORD = "pw-Kq8#zz-" + uuid.uuid4().hex[:8]
TOTP = pyotp.random_base32()


@pytest.fixture
def store(tmp_path):
    return CredentialStore(load_settings(keyring_service=f"optout-test-{uuid.uuid4().hex[:8]}",
                                         state_dir=tmp_path / "state", data_dir=tmp_path / "data"))


def env_store(optout_env) -> CredentialStore:
    """The same keyring entries the subprocess wrote, read back by the test."""
    e = optout_env.env
    return CredentialStore(load_settings(keyring_service=e["OPTOUT_KEYRING_SERVICE"], state_dir=e["OPTOUT_STATE_DIR"],
                                         base_url=e["OPTOUT_BASE_URL"]))


# ---- the store ----


def test_handles_are_case_insensitive_with_or_without_at():
    assert normalize_handle(" @Alice_01 ") == "alice_01"
    with pytest.raises(BadInput):
        normalize_handle("not a handle!")


def test_round_trip_and_index(store):
    store.save(Credentials(handle="@Alice", password=SecretStr(PASSWORD), totp_secret=SecretStr(TOTP), phone="+15550001"))
    store.save(Credentials(handle="bob", password=SecretStr("pw-bob-123456")))
    creds = store.get("ALICE")
    assert creds.password.get_secret_value() == PASSWORD and creds.totp_secret.get_secret_value() == TOTP
    assert creds.recovery_answers == ["+15550001"]
    assert store.handles() == ["alice", "bob"]
    info = store.info("alice")
    assert (info.password, info.totp, info.phone, info.email, info.session) == (True, True, True, False, False)
    # Replacing the password keeps the TOTP secret and identifiers that were not given again.
    store.save(Credentials(handle="alice", password=SecretStr("pw-new-654321")))
    assert store.get("alice").totp_secret.get_secret_value() == TOTP and store.get("alice").phone == "+15550001"


def test_secrets_never_show_in_repr_or_json(store):
    creds = Credentials(handle="alice", password=SecretStr(PASSWORD), totp_secret=SecretStr(TOTP))
    session = SessionCookies(auth_token=SecretStr("a" * 40), ct0=SecretStr("c" * 32), twid="u%3D1")
    shown = [repr(creds), str(creds), creds.model_dump_json(), repr(session), session.model_dump_json()]
    assert find_leaks([PASSWORD, TOTP, "a" * 40, "c" * 32], texts=shown) == []


def test_sessions_expire_and_are_forgotten_alone(store):
    store.save(Credentials(handle="alice", password=SecretStr(PASSWORD)))
    store.save_session("alice", SessionCookies(auth_token=SecretStr("a" * 40), ct0=SecretStr("c" * 160), twid="u%3D1",
                                               expires=time.time() + 3600))
    assert store.load_session("@ALICE").ct0.get_secret_value() == "c" * 160
    assert store.forget_session("alice") is True
    assert store.load_session("alice") is None and store.has("alice")
    store.save_session("alice", SessionCookies(auth_token=SecretStr("a" * 40), ct0=SecretStr("c" * 32), expires=time.time() - 1))
    assert store.load_session("alice") is None  # expired: as good as none
    assert store.info("alice").session is False and store.info("alice").session_expires is not None


def test_remove_forgets_everything(store):
    store.save(Credentials(handle="alice", password=SecretStr(PASSWORD), totp_secret=SecretStr(TOTP), email="a@example.com"))
    store.save_session("alice", SessionCookies(auth_token=SecretStr("a" * 40), ct0=SecretStr("c" * 32)))
    assert store.remove("alice") is True
    assert store.handles() == [] and store.load_session("alice") is None
    with pytest.raises(UnknownAccount):
        store.get("alice")
    assert store.remove("alice") is False


def test_check_names_the_working_backend(store):
    assert store.check() == "keyring.backends.SecretService.Keyring"


# ---- the commands, as a user runs them ----


def test_accounts_add_list_logout_remove(optout_env):
    add = optout_env.run("accounts", "add", "@Carol", "--password-stdin", "--totp-secret-stdin", "--email",
                         "carol@example.com", "--json", input=f"{PASSWORD}\n{TOTP.lower()}\n")
    assert add.returncode == 0, add.stderr
    stored = env_store(optout_env).get("carol")
    assert stored.password.get_secret_value() == PASSWORD and stored.totp_secret.get_secret_value() == TOTP
    listed = optout_env.run("accounts", "list", "--json")
    row = json.loads(listed.stdout)[0]
    assert (row["handle"], row["password"], row["totp"], row["email"], row["session"]) == ("carol", True, True, True, False)

    imported = optout_env.run("session", "import", "carol", "--stdin", input="ab" * 20 + "\n" + "cd" * 80 + "\n")
    assert imported.returncode == 0, imported.stderr
    assert env_store(optout_env).load_session("carol").auth_token.get_secret_value() == "ab" * 20
    assert optout_env.run("logout", "carol").returncode == 0
    assert env_store(optout_env).load_session("carol") is None and env_store(optout_env).has("carol")

    assert optout_env.run("accounts", "remove", "CAROL").returncode == 0
    assert json.loads(optout_env.run("accounts", "list", "--json").stdout) == []
    assert optout_env.run("accounts", "remove", "carol").returncode == 2

    leaks = find_leaks([PASSWORD, TOTP, "ab" * 20, "cd" * 80], optout_env.written_files(), optout_env.outputs)
    assert leaks == []


def test_bad_totp_secret_is_refused_and_nothing_stored(optout_env):
    bad = optout_env.run("accounts", "add", "dora", "--password-stdin", "--totp-secret-stdin",
                         input=f"{PASSWORD}\nnot-base32-0189!\n")
    assert bad.returncode == 2 and "TOTP" in bad.stderr
    assert not env_store(optout_env).has("dora")
    assert find_leaks([PASSWORD, "not-base32-0189!"], texts=optout_env.outputs) == []


def test_no_terminal_and_no_stdin_flag_is_bad_input(optout_env):
    result = optout_env.run("accounts", "add", "erin", input="")
    assert result.returncode == 2 and "--password-stdin" in result.stderr


def test_interactive_add_uses_hidden_prompts(optout_env):
    """Through a real pseudo-terminal: the password twice, 'y' for TOTP, then the key; nothing echoed."""
    answers = [PASSWORD, PASSWORD, "y", " ".join(TOTP[i:i + 4] for i in range(0, len(TOTP), 4))]
    output = run_in_terminal(optout_env, ["accounts", "add", "frank"], answers)
    assert env_store(optout_env).get("frank").totp_secret.get_secret_value() == TOTP
    assert env_store(optout_env).get("frank").password.get_secret_value() == PASSWORD
    assert find_leaks([PASSWORD, TOTP], optout_env.written_files(), [output]) == []


# ---- no usable keyring ----


@pytest.mark.parametrize("backend,unset_dbus", [("keyring.backends.fail.Keyring", False),
                                                ("keyring.backends.SecretService.Keyring", True)])
def test_no_usable_keyring_is_exit_5_with_a_fix(backend, unset_dbus, optout_env):
    extra = {"PYTHON_KEYRING_BACKEND": backend}
    if unset_dbus:  # a server without a D-Bus session
        extra["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent/bus"
    result = optout_env.run("accounts", "add", "gina", "--password-stdin", input=f"{PASSWORD}\n", extra_env=extra)
    assert result.returncode == 5 and "Traceback" not in result.stderr
    assert backend in " ".join(result.stderr.split()) and "dbus-run-session" in result.stderr
    as_json = optout_env.run("accounts", "add", "gina", "--password-stdin", "--json", input=f"{PASSWORD}\n", extra_env=extra)
    error = json.loads(as_json.stdout)
    assert backend in error["message"] and error["exit_code"] == 5
    assert all(where in error["hint"] for where in ("Linux server", "macOS", "Windows", "PYTHON_KEYRING_BACKEND"))
    assert find_leaks([PASSWORD], texts=optout_env.outputs) == []
    listed = optout_env.run("accounts", "list", "--json", extra_env=extra)
    assert listed.returncode == 5 and json.loads(listed.stdout)["error"] == "KeyringUnavailable"
