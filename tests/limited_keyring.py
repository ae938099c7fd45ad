"""A keyring backend for one test only: it keeps entries in memory and refuses any entry larger than
Windows Credential Manager allows (a credential blob of 2,560 bytes, stored as UTF-16; a user name of 513
characters), so the test proves optout's entries stay small whatever the number of accounts."""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError, PasswordSetError

MAX_BLOB_BYTES = 2560  # CRED_MAX_CREDENTIAL_BLOB_SIZE
MAX_USERNAME_CHARS = 513  # CRED_MAX_USERNAME_LENGTH


class LimitedKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, username: str, password: str) -> None:
        if len(password.encode("utf-16-le")) > MAX_BLOB_BYTES:
            raise PasswordSetError("The stub received bad data.")  # what Windows answers
        if len(username) > MAX_USERNAME_CHARS:
            raise PasswordSetError("The parameter is incorrect.")
        self.entries[(service, username)] = password

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")
