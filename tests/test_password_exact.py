"""A password is stored exactly as typed on every path (issue 12 item 4): the hidden prompt,
--password-stdin (UTF-8 whatever the locale, only the line ending removed) and the CSV import; a stdin
option on a terminal refuses, since what is typed there is shown."""

from __future__ import annotations

import subprocess
import sys
import uuid

from optout.config import load_settings
from optout.credentials import CredentialStore
from tests.secrets_scan import find_leaks
from tests.terminal import run_in_terminal

# Spaces at both ends, a tab, non-ASCII letters, a comma and a quote: all of it is the password.
PASSWORD = "  pä,ss\"wörd\t€ " + uuid.uuid4().hex[:6] + " "


def stored(optout_env, handle: str) -> str:
    e = optout_env.env
    store = CredentialStore(load_settings(keyring_service=e["OPTOUT_KEYRING_SERVICE"], state_dir=e["OPTOUT_STATE_DIR"],
                                          base_url=e["OPTOUT_BASE_URL"]))
    return store.get(handle).password.get_secret_value()


def run_bytes(optout_env, args: list[str], data: bytes, extra_env: dict | None = None):
    """`optout ARGS` with raw bytes on stdin, as a pipe from another program sends them."""
    proc = subprocess.run([sys.executable, "-m", "optout", *args], input=data, capture_output=True,
                          env={**optout_env.env, **(extra_env or {})}, cwd=optout_env.home, timeout=60)
    optout_env.outputs += [proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")]
    return proc


def test_password_stdin_keeps_everything_but_the_line_ending(optout_env):
    # A Latin-1 locale must not change how the UTF-8 bytes of the pipe are read.
    latin = {"PYTHONIOENCODING": "latin-1", "LC_ALL": "C", "PYTHONUTF8": "0"}
    for handle, ending in (("crlf", b"\r\n"), ("lf", b"\n"), ("eof", b"")):
        added = run_bytes(optout_env, ["accounts", "add", handle, "--password-stdin"],
                          PASSWORD.encode() + ending, extra_env=latin)
        assert added.returncode == 0, added.stderr
        assert stored(optout_env, handle) == PASSWORD, handle
    not_utf8 = run_bytes(optout_env, ["accounts", "add", "latin", "--password-stdin"], "pässword\n".encode("latin-1"))
    assert not_utf8.returncode == 2 and b"UTF-8" in not_utf8.stderr and b"Traceback" not in not_utf8.stderr
    assert find_leaks([PASSWORD], optout_env.written_files(), optout_env.outputs) == []


def test_csv_import_keeps_the_password_cell_as_written(optout_env, tmp_path):
    quoted = '"' + PASSWORD.replace('"', '""') + '"'
    csv_text = f"handle,password,totp\n @fromfile ,{quoted},\nplain,  two spaces first,\n"
    path = tmp_path / "creds.csv"
    path.write_text(csv_text, encoding="utf-8")
    assert optout_env.run("accounts", "import", str(path)).returncode == 0
    assert stored(optout_env, "fromfile") == PASSWORD and stored(optout_env, "plain") == "  two spaces first"
    piped = run_bytes(optout_env, ["accounts", "import", "-"], csv_text.replace("fromfile", "frompipe").encode(),
                      extra_env={"PYTHONIOENCODING": "latin-1"})
    assert piped.returncode == 0, piped.stderr
    assert stored(optout_env, "frompipe") == PASSWORD


def test_prompt_keeps_the_password_as_typed_and_stdin_options_refuse_a_terminal(optout_env):
    typed = " sp ace " + uuid.uuid4().hex[:6] + " "
    run_in_terminal(optout_env, ["accounts", "add", "prompted"], [typed, typed, "n"])
    assert stored(optout_env, "prompted") == typed
    for args in (["accounts", "add", "tty", "--password-stdin"], ["session", "import", "tty", "--stdin"],
                 ["accounts", "import", "-"]):
        shown = run_in_terminal(optout_env, args, [], expect_exit=2)
        assert "stdin is a terminal" in " ".join(shown.split()), args
