"""Which keyring backends optout trusts with X passwords: the operating system's own secret stores.

keyring picks a backend by priority, and packages such as keyrings.alt add plaintext or file backends
(PlaintextKeyring writes passwords base64-encoded into a file in the home folder) that can win that
choice, or be named by PYTHON_KEYRING_BACKEND, without the user noticing. So optout lists the backends it
trusts and refuses any other, unless the user opts in with OPTOUT_ALLOW_INSECURE_KEYRING=1 (for example
a test keyring, or an encrypted file on a machine without a secret service, knowingly).
"""

from __future__ import annotations

import keyring.backend

# The OS secret stores: Secret Service (GNOME Keyring, KeePassXC...), KWallet, macOS Keychain, Windows
# Credential Manager.
TRUSTED = frozenset({
    "keyring.backends.SecretService.Keyring",
    "keyring.backends.libsecret.Keyring",
    "keyring.backends.kwallet.DBusKeyring",
    "keyring.backends.kwallet.DBusKeyringKWallet4",
    "keyring.backends.macOS.Keyring",
    "keyring.backends.Windows.WinVaultKeyring",
})
CHAINER = "keyring.backends.chainer.ChainerBackend"
OPT_IN = "OPTOUT_ALLOW_INSECURE_KEYRING"


def backend_name(backend: keyring.backend.KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _parts(backend: keyring.backend.KeyringBackend) -> list[keyring.backend.KeyringBackend]:
    """The backends that really hold the secrets: a chainer writes to the first of its own."""
    if backend_name(backend) == CHAINER:
        return list(getattr(backend, "backends", []))[:1]
    return [backend]


def untrusted_parts(backend: keyring.backend.KeyringBackend) -> list[str]:
    """The names of the backends (of a chain, its first) that are not an OS secret store."""
    parts = _parts(backend)
    if not parts:
        return [backend_name(backend)]
    return [backend_name(p) for p in parts if backend_name(p) not in TRUSTED]


def is_trusted(backend: keyring.backend.KeyringBackend) -> bool:
    return not untrusted_parts(backend)


def refusal(backend: keyring.backend.KeyringBackend) -> str:
    """Why the backend is refused, for the KeyringUnavailable message."""
    names = ", ".join(untrusted_parts(backend))
    return (f"the keyring backend {names} is not an operating-system secret store (it may keep passwords in "
            f"a plain or weakly protected file), so optout will not put X passwords in it. Set {OPT_IN}=1 "
            "to use it anyway")
