"""Issue 12 item 8: signed receipts. The key is in the real OS keyring (scripts/with-keyring); whoever can
write the evidence folder and the history, but not the keyring, cannot rewrite a receipt unseen once
`verify --public-key` is given; receipts from before signing are unsigned, not broken; several keys
(shards, a rotated key) are accepted, and a change of key is named."""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from optout import signing
from optout.config import load_settings
from optout.credentials import CredentialStore, SessionCookies
from optout.evidence import CHAIN, RECEIPT, SIGNATURE, EvidenceRun, Receipt, verify_tree, write_private
from optout.models import AccountOutcome, Mode, utcnow

PNG = b"\x89PNG\r\n\x1a\n" + b"image"


def _store(service: str | None = None) -> CredentialStore:
    """A keyring service of its own, and a state dir of its own (the rotation record lives there)."""
    home = Path(tempfile.mkdtemp(prefix="optout-signing-"))
    return CredentialStore(load_settings(keyring_service=service or f"optout-test-{uuid.uuid4().hex[:8]}",
                                         state_dir=home / "state", data_dir=home / "data"))


@pytest.fixture
def store():
    s = _store()
    yield s
    s._delete("::receipt-signing-key")  # noqa: SLF001  leave the test keyring as it was


def _run(root, store, n=0, base_url="https://x.com"):
    run = EvidenceRun(root, "alice", started_at=utcnow() + timedelta(seconds=n), credentials=store)
    write_private(run.dir / "before-business-partners.png", PNG + str(n).encode())
    receipt = Receipt(tool_version="t", handle="alice", base_url=base_url, mode=Mode.APPLY,
                      outcome=AccountOutcome.OK, started_at=run.started_at)
    return run, run.write_receipt(receipt)


def _trusted(*stores):
    return {signing.key_id(signing.load_or_create_key(s).public_key()): signing.load_or_create_key(s).public_key()
            for s in stores}


def _rechain(receipt_path) -> None:
    """What someone with write access to the folder does after editing the newest receipt: fix chain.json."""
    head = receipt_path.parent.parent / CHAIN
    head.write_text(json.dumps({"latest": f"{receipt_path.parent.name}/{RECEIPT}",
                                "sha256": hashlib.sha256(receipt_path.read_bytes()).hexdigest()}))


def test_receipts_are_signed_and_name_the_account_and_site(tmp_path, store):
    store.save_session("alice", SessionCookies(auth_token="a" * 40, ct0="c" * 32, twid="u%3D1122334455"))
    try:
        run, receipt_path = _run(tmp_path / "ev", store, base_url="https://X.com:443/")
        receipt = Receipt.model_validate_json(receipt_path.read_bytes())
        assert receipt.account_id == "1122334455" and receipt.site == "https://x.com"
        sig = signing.Signature.model_validate_json((run.dir / SIGNATURE).read_bytes())
        key = signing.load_or_create_key(store)  # the same key, read back from the keyring
        assert sig.key_id == receipt.signing_key == signing.key_id(key.public_key())
        key.public_key().verify(base64.b64decode(sig.signature), receipt_path.read_bytes())
        report = verify_tree(tmp_path / "ev", trusted_keys=_trusted(store))
        assert report.ok and report.signed == 1 and report.unsigned == 0 and report.warnings == []
    finally:
        store.forget_session("alice")


def test_a_consistent_rewrite_is_caught_only_by_the_signature(tmp_path, store):
    root = tmp_path / "ev"
    _run(root, store, 0)
    run, newest = _run(root, store, 1)
    data = json.loads(newest.read_text())
    data["outcome"] = "verify_failed"
    newest.write_text(json.dumps(data))
    _rechain(newest)
    assert [p.problem for p in verify_tree(root, trusted_keys=_trusted(store)).problems] == [
        "signature does not match the receipt (edited after it was signed)"]

    # the forger re-signs with a key of their own: the receipt is consistent, but not signed by a key we trust
    forged = Ed25519PrivateKey.generate()
    forged_id = signing.key_id(forged.public_key())
    data["signing_key"] = forged_id
    newest.write_text(json.dumps(data))
    raw = base64.b64encode(forged.public_key().public_bytes_raw()).decode()
    (run.dir / SIGNATURE).write_text(signing.Signature(
        key_id=forged_id, public_key=raw, signature=base64.b64encode(forged.sign(newest.read_bytes())).decode(),
    ).model_dump_json())
    _rechain(newest)
    untrusted = verify_tree(root)
    assert untrusted.problems == [] and any("key changed" in w.problem for w in untrusted.warnings)
    assert [p.problem for p in verify_tree(root, trusted_keys=_trusted(store)).problems] == [
        f"signed by key {forged_id}, which is not among the --public-key files given"]


def test_a_stripped_signature_is_a_problem(tmp_path, store):
    root = tmp_path / "ev"
    first_run, _ = _run(root, store, 0)
    run, newest = _run(root, store, 1)
    (run.dir / SIGNATURE).unlink()
    assert [p.problem for p in verify_tree(root).problems] == ["signature file receipt.sig is missing (removed?)"]
    data = json.loads(newest.read_text())
    data["signing_key"] = None  # pretend it was never signed
    newest.write_text(json.dumps(data))
    _rechain(newest)
    assert [p.problem for p in verify_tree(root).problems] == [
        "receipt is not signed, but an earlier receipt of this account was (signature stripped?)"]


def test_receipts_from_before_signing_are_unsigned_not_broken(tmp_path, store):
    root = tmp_path / "ev"
    _run(root, None, 0)  # written by a version that did not sign
    _run(root, None, 1)
    _run(root, store, 2)
    report = verify_tree(root, trusted_keys=_trusted(store))
    assert report.ok and report.problems == []
    assert (report.receipts, report.signed, report.unsigned) == (3, 1, 2)
    assert sum("unsigned" in w.problem for w in report.warnings) == 2


def test_several_keys_shards_and_a_rotation(tmp_path, store):
    root = tmp_path / "ev"
    other = _store()  # another machine (a shard), with a key of its own
    try:
        _run(root, store, 0)
        old_id = signing.key_id(signing.load_or_create_key(store).public_key())
        _, shard = _run(root, other, 1)
        shard_id = Receipt.model_validate_json(shard.read_bytes()).signing_key
        both = verify_tree(root, trusted_keys=_trusted(store, other))
        assert both.ok and both.signed == 2
        assert [(w.path, w.problem) for w in both.warnings] == [
            (str(shard), f"signing key changed from {old_id} to {shard_id}, not endorsed by it: another "
                         "machine's key, or a key made anew (recorded in the chain)")]
        only_old = verify_tree(root, trusted_keys=_trusted(store))
        assert [p.problem for p in only_old.problems] == [
            f"signed by key {shard_id}, which is not among the --public-key files given"]

        # `optout key rotate` on the shard: the new key is endorsed by the shard's old one
        old_public = signing.load_or_create_key(other).public_key()
        previous, new_id, pem = signing.rotate(other)
        assert previous == shard_id and new_id != shard_id and pem.startswith("-----BEGIN PUBLIC KEY-----")
        _, rotated = _run(root, other, 2)
        assert Receipt.model_validate_json(rotated.read_bytes()).key_rotation.previous_key == shard_id
        trusted = {**_trusted(store, other), shard_id: old_public}
        after = verify_tree(root, trusted_keys=trusted)
        assert after.ok and after.signed == 3, after.problems
        assert (str(rotated), f"signing key changed from {shard_id} to {new_id}: a rotation, endorsed by the "
                              "previous key (recorded in the chain)") in [(w.path, w.problem) for w in after.warnings]
    finally:
        other._delete("::receipt-signing-key")  # noqa: SLF001


def test_a_claimed_rotation_from_another_key_is_not_taken_as_endorsed(tmp_path, store):
    """A rotation record that endorses the new key with some other key (not the one before it in this
    chain) reads as a plain change of key."""
    root = tmp_path / "ev"
    stranger = _store()
    try:
        _run(root, store, 0)
        signing.load_or_create_key(stranger)
        signing.rotate(stranger)  # the stranger's new key, endorsed by the stranger's old key
        _, claimed = _run(root, stranger, 1)
        assert Receipt.model_validate_json(claimed.read_bytes()).key_rotation is not None
        warnings = [w.problem for w in verify_tree(root).warnings if "signing key changed" in w.problem]
        assert len(warnings) == 1 and "not endorsed" in warnings[0]
    finally:
        stranger._delete("::receipt-signing-key")  # noqa: SLF001


def test_key_export_and_verify_public_key_on_the_command_line(optout_env, tmp_path):
    env = optout_env
    exported = env.run("key", "export")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in exported.stdout
    pub = tmp_path / "optout.pub"
    pub.write_text(exported.stdout)
    assert env.run("key", "export").stdout == exported.stdout  # one key, kept in the keyring

    store = _store(env.env["OPTOUT_KEYRING_SERVICE"])
    root = tmp_path / "ev"
    _run(root, store, 0)
    ok = env.run("verify", str(root), "--public-key", str(pub), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["signed"] == 1

    stranger = tmp_path / "stranger.pub"
    stranger.write_text(signing.public_pem(Ed25519PrivateKey.generate().public_key()))
    assert env.run("verify", str(root), "--public-key", str(stranger)).returncode == 1
    both = env.run("verify", str(root), "--public-key", str(stranger), "--public-key", str(pub))
    assert both.returncode == 0, both.stdout
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("not a key")
    bad = env.run("verify", str(root), "--public-key", str(garbage))
    assert bad.returncode == 2 and "not a readable public key" in bad.stderr and "Traceback" not in bad.stderr

    rotated = env.run("key", "rotate")
    assert rotated.returncode == 0 and rotated.stdout.startswith("-----BEGIN PUBLIC KEY-----"), rotated.stderr
    assert rotated.stdout != exported.stdout and env.run("key", "export").stdout == rotated.stdout
    assert "keep" in rotated.stderr and "older receipts" in rotated.stderr
    store._delete("::receipt-signing-key")  # noqa: SLF001


def test_the_backup_and_restore_the_readme_gives_work(tmp_path, store):
    """README: `keyring get optout ::receipt-signing-key > file`, then `keyring set ... < file` elsewhere."""
    import subprocess
    import sys

    original = signing.key_id(signing.load_or_create_key(store).public_key())
    cli = [sys.executable, "-m", "keyring"]
    backup = subprocess.run(cli + ["get", store.service, "::receipt-signing-key"], capture_output=True, text=True)
    assert backup.returncode == 0 and "PRIVATE KEY" in backup.stdout
    restored = _store()  # a new machine
    try:
        subprocess.run(cli + ["set", restored.service, "::receipt-signing-key"], input=backup.stdout, text=True,
                       check=True, capture_output=True)
        assert signing.key_id(signing.load_or_create_key(restored).public_key()) == original
    finally:
        restored._delete("::receipt-signing-key")  # noqa: SLF001


def test_the_report_shows_signed_unsigned_and_interrupted(tmp_path, store):
    from optout.report import build_report

    root = tmp_path / "ev"
    _run(root, None, 0)
    unsigned_html = build_report([next(root.glob(f"alice/*/{RECEIPT}"))], tmp_path / "a.html").read_text()
    assert "unsigned (older receipt)" in unsigned_html and "interrupted" not in unsigned_html
    run = EvidenceRun(root, "alice", started_at=utcnow() + timedelta(seconds=5), credentials=store)
    receipt = run.write_interrupted(Receipt(tool_version="t", handle="alice", base_url="https://x.com",
                                            mode=Mode.APPLY, outcome=AccountOutcome.OK,
                                            started_at=run.started_at), KeyboardInterrupt())
    html = build_report([receipt], tmp_path / "b.html").read_text()
    key = Receipt.model_validate_json(receipt.read_bytes()).signing_key
    assert f"signed, key {key}" in html and "The run was interrupted (stopped by Ctrl-C (SIGINT))" in html
    assert "evidence verified" in html


def test_a_damaged_key_in_the_keyring_is_named_not_replaced(tmp_path, store):
    from optout.errors import BadInput

    store.save_signing_key("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(BadInput, match="not a readable Ed25519 key"):
        _run(tmp_path / "ev", store)
    assert store.signing_key().startswith("-----BEGIN PRIVATE KEY-----\nnot a key")  # kept for the user to restore
