"""The list of stored handles lives in the state dir, not the keyring (issue 12 item 2): every keyring
entry stays small (Windows' 2,560-byte limit, enforced by a keyring backend written for the one test
that opts in to it), handles cannot collide with optout's own entries, and a lost index heals itself."""

from __future__ import annotations

import io
import json
import uuid

import keyring
import pyotp
import pytest
from keyring.errors import PasswordSetError
from pydantic import SecretStr

from optout.accounts_import import import_credentials
from optout.config import load_settings
from optout.credentials import PROBE_ENTRY, Credentials, CredentialStore
from optout.keyring_index import INDEX_FILE
from optout.site import X_SITE
from tests.limited_keyring import MAX_BLOB_BYTES, LimitedKeyring


@pytest.fixture
def windows_sized_keyring():
    """This test alone swaps the system keyring for the size-limited one, and puts the system one back."""
    before = keyring.get_keyring()
    backend = LimitedKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


def test_a_thousand_accounts_fit_windows_entry_limit(windows_sized_keyring, tmp_path):
    backend = windows_sized_keyring
    with pytest.raises(PasswordSetError):  # the backend does enforce the limit
        backend.set_password("s", "u", "x" * (MAX_BLOB_BYTES // 2 + 1))
    handles = [f"account_{n:04d}_{uuid.uuid4().hex[:6]}" for n in range(1000)]
    assert len(json.dumps(handles)) > MAX_BLOB_BYTES  # what the keyring index of old could not hold
    totp = pyotp.random_base32()
    csv = "handle,password,totp\n" + "".join(f"{h},pw-{h}-Kq8#,{totp if n % 2 else ''}\n"
                                             for n, h in enumerate(handles))
    settings = load_settings(keyring_service="optout-limited", state_dir=tmp_path / "state",
                             allow_insecure_keyring=True)  # opting in to a non-system backend, on purpose
    report = import_credentials(CredentialStore(settings), "-", stdin=io.StringIO(csv))
    assert len(report.imported) == 1000 and len(report.with_totp) == 500

    store = CredentialStore(settings)  # a later command
    assert store.handles() == sorted(handles)
    assert store.missing_passwords(handles) == []
    assert store.get(handles[999]).password.get_secret_value() == f"pw-{handles[999]}-Kq8#"
    assert store.get(handles[1]).totp_secret.get_secret_value() == totp
    sizes = [len(v.encode("utf-16-le")) for v in backend.entries.values()]
    assert len(sizes) == 1500 and max(sizes) < 200
    index = json.loads((tmp_path / "state" / INDEX_FILE).read_text())
    assert len(index["services"]["optout-limited"]["sites"][X_SITE]) == 1000


def test_untrusted_backend_is_refused_without_the_opt_in(windows_sized_keyring, tmp_path):
    from optout.errors import KeyringUnavailable

    store = CredentialStore(load_settings(keyring_service="optout-limited", state_dir=tmp_path / "state"))
    with pytest.raises(KeyringUnavailable) as refused:
        store.save(Credentials(handle="alice", password=SecretStr("pw-never-stored")))
    assert "tests.limited_keyring.LimitedKeyring" in refused.value.message
    assert "OPTOUT_ALLOW_INSECURE_KEYRING=1" in refused.value.message
    assert windows_sized_keyring.entries == {}


@pytest.fixture
def store(tmp_path):
    return CredentialStore(load_settings(keyring_service=f"optout-test-{uuid.uuid4().hex[:8]}",
                                         state_dir=tmp_path / "state", data_dir=tmp_path / "data"))


def test_handles_named_like_optout_entries_do_not_collide(store):
    for handle in ("__handles__", "__optout_probe__", "optout"):
        store.save(Credentials(handle=handle, password=SecretStr(f"pw-{handle}-123")))
    assert store.check() == "keyring.backends.SecretService.Keyring"
    assert "@" not in PROBE_ENTRY
    fresh = CredentialStore(store.settings)  # a later command: the legacy move must not touch them
    assert fresh.handles() == ["__handles__", "__optout_probe__", "optout"]
    assert fresh.get("__handles__").password.get_secret_value() == "pw-__handles__-123"
    assert keyring.get_password(store.service, "__handles__@x.com") == "pw-__handles__-123"
    for handle in fresh.handles():
        fresh.remove(handle)
    assert fresh.handles() == []


def test_a_lost_index_heals_from_the_keyring(store):
    store.save(Credentials(handle="alice", password=SecretStr("pw-alice-123")))
    (store.settings.state_dir / INDEX_FILE).unlink()
    later = CredentialStore(store.settings)
    assert later.handles() == []  # nothing indexed; the keyring cannot list its entries
    assert later.missing_passwords(["alice", "bob"]) == ["bob"]  # looked up, found, indexed again
    assert later.handles() == ["alice"] and later.has("alice")
    later.remove("alice")


def test_cli_refuses_an_untrusted_backend_and_doctor_says_so(optout_env):
    """A backend that is not an OS secret store (picked by PYTHON_KEYRING_BACKEND, as keyrings.alt's
    PlaintextKeyring could be) is refused with exit 5 and what to do; the opt-in lets it through and
    doctor names it as not trusted."""
    untrusted = {"PYTHON_KEYRING_BACKEND": "tests.limited_keyring.LimitedKeyring"}
    refused = optout_env.run("accounts", "add", "alice", "--password-stdin", input="pw-alice-123\n", extra_env=untrusted)
    assert refused.returncode == 5 and "Traceback" not in refused.stderr
    said = " ".join(refused.stderr.split())
    assert "tests.limited_keyring.LimitedKeyring" in said and "OPTOUT_ALLOW_INSECURE_KEYRING=1" in said
    doctor = json.loads(optout_env.run("doctor", "--json", extra_env=untrusted).stdout)
    assert next(c for c in doctor["checks"] if c["name"] == "keyring")["ok"] is False
    opted_in = {**untrusted, "OPTOUT_ALLOW_INSECURE_KEYRING": "1"}
    assert optout_env.run("accounts", "add", "alice", "--password-stdin", input="pw-alice-123\n",
                          extra_env=opted_in).returncode == 0
    doctor = json.loads(optout_env.run("doctor", "--json", extra_env=opted_in).stdout)
    check = next(c for c in doctor["checks"] if c["name"] == "keyring")
    assert check["ok"] is True and "NOT trusted" in check["detail"] and "LimitedKeyring" in check["detail"]
