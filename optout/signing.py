"""Ed25519 signatures on receipts, so whoever can write the evidence folder and the history database, but
not the OS keyring, cannot rewrite history unseen.

The private key lives in the OS keyring (through `CredentialStore`, the only module that touches it), made
on first use. Each run folder gets `receipt.sig` beside `receipt.json`: a small JSON naming the key (its id
and raw public key) and the signature over the exact bytes of receipt.json. The receipt itself names the
key id it was signed with, so removing receipt.sig shows, and a change of key (a rotated key, another
machine's shard) is written into the hash chain. `optout verify --public-key FILE` checks every signature
against the keys the user trusts; without it, only against the key each signature names (integrity, not
authorship).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from filelock import FileLock
from pydantic import BaseModel, ValidationError

from optout.errors import BadInput
from optout.files import make_private_dir

SIGNATURE = "receipt.sig"
ALGORITHM = "Ed25519"


class Signature(BaseModel):
    """The content of receipt.sig."""

    algorithm: str = ALGORITHM
    key_id: str
    public_key: str  # raw 32 bytes, base64
    signature: str  # over the exact bytes of receipt.json, base64


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short name for a key: the first 16 hex digits of the SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class Signer:
    """Signs receipts with the key kept in the keyring; the key is read (or made) once, on first use."""

    def __init__(self, credentials) -> None:
        self._credentials = credentials
        self._key: Ed25519PrivateKey | None = None

    @property
    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = load_or_create_key(self._credentials)
        return self._key

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key())

    def sign(self, data: bytes) -> bytes:
        """The bytes of receipt.sig for a receipt.json holding `data`."""
        public = self.key.public_key()
        sig = Signature(key_id=key_id(public), public_key=base64.b64encode(_raw(public)).decode(),
                        signature=base64.b64encode(self.key.sign(data)).decode())
        return sig.model_dump_json(indent=2).encode()


def load_or_create_key(credentials) -> Ed25519PrivateKey:
    """The receipt-signing key from the keyring; a new one is made and stored there the first time (under
    a lock, so two first runs at once, e.g. two shards, cannot each make and keep a different key)."""
    pem = credentials.signing_key()
    if pem:
        return _parse(pem)
    make_private_dir(credentials.settings.state_dir)
    with FileLock(str(credentials.settings.state_dir / "signing-key.lock"), mode=0o600):
        pem = credentials.signing_key()
        if pem:
            return _parse(pem)
        key = Ed25519PrivateKey.generate()
        credentials.save_signing_key(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()).decode())
        return key


def _parse(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        key = None
    if isinstance(key, Ed25519PrivateKey):
        return key
    raise BadInput("The receipt-signing key in the keyring is not a readable Ed25519 key.",
                   hint="Restore it from your backup (README 'Signed receipts', 'Back up the key').")


def load_public_keys(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    """The keys `verify --public-key` trusts, by key id; a file that is not an Ed25519 public key is bad input."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            key = serialization.load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise BadInput(f"{path} is not a readable public key ({type(exc).__name__}).",
                           hint="Give the file `optout key export` wrote.") from None
        if not isinstance(key, Ed25519PublicKey):
            raise BadInput(f"{path} is not an Ed25519 public key.", hint="Give the file `optout key export` wrote.")
        keys[key_id(key)] = key
    return keys


def check(receipt_bytes: bytes, named_key: str, sig_path: Path,
          trusted: dict[str, Ed25519PublicKey] | None) -> str | None:
    """Why the signature of a receipt that names `named_key` does not hold, or None when it does."""
    if not sig_path.is_file() or sig_path.is_symlink():
        return "signature file receipt.sig is missing (removed?)"
    try:
        sig = Signature.model_validate_json(sig_path.read_bytes())
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig.public_key, validate=True))
        value = base64.b64decode(sig.signature, validate=True)
    except (OSError, ValueError, ValidationError):
        return "signature file receipt.sig is unreadable (edited or damaged)"
    if sig.algorithm != ALGORITHM or sig.key_id != named_key or key_id(public) != named_key:
        return f"receipt.sig does not hold a signature by key {named_key}, the key the receipt names"
    if trusted is not None:
        if named_key not in trusted:
            return f"signed by key {named_key}, which is not among the --public-key files given"
        public = trusted[named_key]
    try:
        public.verify(value, receipt_bytes)
    except InvalidSignature:
        return "signature does not match the receipt (edited after it was signed)"
    return None


def export_public_key(credentials) -> tuple[str, str]:
    """What `optout key export` prints: the key id and the public key (PEM); the key is made if none yet."""
    public = load_or_create_key(credentials).public_key()
    return key_id(public), public_pem(public)
