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
import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from filelock import FileLock
from pydantic import BaseModel, ValidationError

from optout.errors import BadInput
from optout.files import make_private_dir, write_private

SIGNATURE = "receipt.sig"
ALGORITHM = "Ed25519"


class Signature(BaseModel):
    """The content of receipt.sig."""

    algorithm: str = ALGORITHM
    key_id: str
    public_key: str  # raw 32 bytes, base64
    signature: str  # over the exact bytes of receipt.json, base64


class KeyRotation(BaseModel):
    """Written into every receipt signed by a rotated key: the key before it signed this key's raw bytes,
    so the chain shows a rotation by the owner apart from a key that simply appeared."""

    previous_key: str
    previous_public_key: str  # raw, base64
    endorsement: str  # the previous key's signature over ROTATION_PREFIX + this key's raw bytes, base64


ROTATION_PREFIX = b"optout signing key rotation\n"
ROTATION_FILE = "signing-key-rotation.json"  # in the state dir; public data, no secret


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

    def rotation(self) -> KeyRotation | None:
        """The endorsement of the current key by the one before it, when `optout key rotate` made it."""
        path = self._credentials.settings.state_dir / ROTATION_FILE
        try:
            recorded = json.loads(path.read_text())
            rotation = KeyRotation.model_validate(recorded["rotation"])
        except (OSError, ValueError, KeyError, TypeError, ValidationError):
            return None
        return rotation if recorded.get("key") == self.key_id else None

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


def rotate(credentials) -> tuple[str, str, str]:
    """Make a new signing key, endorsed by the current one; returns (old key id, new key id, new PEM).
    The old public key is needed to verify older receipts: export it first."""
    state_dir = credentials.settings.state_dir
    make_private_dir(state_dir)
    with FileLock(str(state_dir / "signing-key.lock"), mode=0o600):
        old = _parse(credentials.signing_key()) if credentials.signing_key() else None
        if old is None:
            raise BadInput("There is no signing key to rotate yet.", hint="`optout key export` makes one.")
        new = Ed25519PrivateKey.generate()
        rotation = KeyRotation(previous_key=key_id(old.public_key()),
                               previous_public_key=base64.b64encode(_raw(old.public_key())).decode(),
                               endorsement=base64.b64encode(old.sign(ROTATION_PREFIX + _raw(new.public_key()))).decode())
        write_private(state_dir / ROTATION_FILE, json.dumps(
            {"key": key_id(new.public_key()), "rotation": rotation.model_dump()}, indent=2).encode())
        credentials.save_signing_key(new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()).decode())
    return rotation.previous_key, key_id(new.public_key()), public_pem(new.public_key())


def endorsed(rotation: KeyRotation, previous_key: str, new_key_raw_b64: str) -> bool:
    """Whether `rotation` shows the key `previous_key` endorsing the new key (raw, base64)."""
    try:
        old = Ed25519PublicKey.from_public_bytes(base64.b64decode(rotation.previous_public_key, validate=True))
        if key_id(old) != previous_key or rotation.previous_key != previous_key:
            return False
        old.verify(base64.b64decode(rotation.endorsement, validate=True),
                   ROTATION_PREFIX + base64.b64decode(new_key_raw_b64, validate=True))
    except (ValueError, InvalidSignature):
        return False
    return True


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
