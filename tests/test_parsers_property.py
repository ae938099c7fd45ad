"""Property tests (Hypothesis) for every parser of user input optout owns (issue 12 item 11): accounts
files (TOML, YAML, CSV), the credentials CSV, config.toml, OPTOUT_* variables, pasted cookies and
stdin lines. Whatever the input, the result is a value or BadInput (exit 2), never another exception;
and what must round-trip (a password in a CSV cell, a line on stdin) comes back exactly."""

from __future__ import annotations

import csv
import io
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from optout.accounts import _cookie_value, read_line
from optout.accounts_file import load_accounts
from optout.accounts_import import _parse
from optout.config import load_settings
from optout.errors import BadInput, ExitCode

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Pieces of the three formats, so generated files reach the parsers' inner paths, not only their first error.
YAML_BITS = ["- ", "handle: ", "alice", "@bob", "settings: ", "[grok-training]", "tags: ", "<<: ", "&a ", "*a",
             "accounts:", "password: ", "? ", ": ", "{", "}", "[", "]", ",", "\n", "  ", "!!python/object ", "'",
             '"', "#", "---\n", "all", "~", "1e309", "\t", "\x00", "é"]
TOML_BITS = ["[[account]]\n", "handle = ", '"alice"', "'@bob'", "settings = ", '["grok-training"]', "tags = ",
             "[", "]", "{", "}", "=", ",", "\n", "password = ", "[account]\n", "x.y = 1\n", '"""', "inf", "é"]
CSV_BITS = ["handle", "settings", "tags", "password", ",", "\n", "\r\n", '"', "alice", "@bob", "grok-training",
            "all", " ", "#", ";", "é", "\x00"]


def _assert_loads_or_bad_input(tmp_path, suffix: str, data: bytes) -> None:
    path = tmp_path / f"accounts{suffix}"
    path.write_bytes(data)
    try:
        loaded = load_accounts(path)
    except BadInput as exc:
        assert exc.exit_code == ExitCode.BAD_INPUT and exc.message
        return
    assert loaded.accounts and len({a.key for a in loaded.accounts}) == len(loaded.accounts)


@FAST
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".toml", ".yaml", ".csv"]))
def test_accounts_file_any_bytes(tmp_path, data, suffix):
    _assert_loads_or_bad_input(tmp_path, suffix, data)


@FAST
@given(st.data())
def test_accounts_file_format_shaped_text(tmp_path, data):
    suffix, bits = data.draw(st.sampled_from([(".yaml", YAML_BITS), (".toml", TOML_BITS), (".csv", CSV_BITS)]))
    text = "".join(data.draw(st.lists(st.sampled_from(bits), max_size=40)))
    _assert_loads_or_bad_input(tmp_path, suffix, text.encode("utf-8", "surrogatepass"))


@FAST
@given(depth=st.integers(min_value=1, max_value=60_000), opener=st.sampled_from(["[", "{a: ", "- "]))
def test_accounts_yaml_any_nesting(tmp_path, depth, opener):
    _assert_loads_or_bad_input(tmp_path, ".yaml", ("- handle: " + opener * depth + "x\n").encode())


@FAST
@given(depth=st.integers(min_value=1, max_value=60_000), opener=st.sampled_from(["[", "{a = "]))
def test_accounts_toml_any_nesting(tmp_path, depth, opener):
    _assert_loads_or_bad_input(tmp_path, ".toml", ('[[account]]\nhandle = "a"\ntags = ' + opener * depth).encode())


PASSWORDS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30)
HANDLES = st.text(string.ascii_lowercase + string.digits + "_", min_size=1, max_size=15)


@FAST
@given(rows=st.lists(st.tuples(HANDLES, PASSWORDS), min_size=1, max_size=8, unique_by=lambda r: r[0]),
       header=st.booleans())
def test_credentials_csv_round_trips_every_password(rows, header):
    # A first row naming both columns is a header by the format's own rule; with no header, skip those.
    assume(header or not {"handle", "password"} <= {c.strip().lower() for c in rows[0]})
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    if header:
        writer.writerow(["handle", "password"])
    writer.writerows(rows)
    parsed = _parse(out.getvalue(), "-")
    assert [(r.handle, r.password) for r in parsed] == rows


@FAST
@given(st.text(max_size=300))
def test_credentials_csv_any_text(text):
    try:
        _parse(text, "-")
    except BadInput as exc:
        assert exc.exit_code == ExitCode.BAD_INPUT


@FAST
@given(line=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=40),
       ending=st.sampled_from(["\n", "\r\n", ""]), rest=st.binary(max_size=20))
def test_stdin_line_is_exact_utf8(line, ending, rest):
    stdin = io.TextIOWrapper(io.BytesIO((line + ending).encode() + (b"\n" + rest if ending else b"")), encoding="ascii")
    assert read_line(stdin) == line


@FAST
@given(st.binary(max_size=40))
def test_stdin_line_any_bytes(data):
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="latin-1")
    try:
        value = read_line(stdin)
    except BadInput as exc:
        assert "UTF-8" in exc.message
        return
    assert value.encode() == data.split(b"\n")[0].removesuffix(b"\r")


def _refusal(raw: str, name: str) -> str:
    with pytest.raises(BadInput) as refused:
        _cookie_value(raw, name)
    return str(refused.value)


@FAST
@given(raw=st.one_of(st.none(), st.text(max_size=80)), name=st.sampled_from(["auth_token", "ct0"]))
def test_pasted_cookie(raw, name):
    try:
        value = _cookie_value(raw, name)
    except BadInput as exc:
        assert exc.exit_code == ExitCode.BAD_INPUT
        if raw and len(raw.strip()) >= 8:  # what was pasted is never echoed (the fixed words may hold it)
            assert raw.strip() not in str(exc) or raw.strip() in _refusal("\x00" * 8, name)
        return
    assert len(value) >= 16 and set(value) <= set(string.ascii_letters + string.digits + "%_-")


ENV_FIELDS = ["OPTOUT_TIMEOUT_MS", "OPTOUT_LOCK_TIMEOUT_S", "OPTOUT_CONCURRENCY", "OPTOUT_PAUSE_MIN_MS",
              "OPTOUT_BASE_URL", "OPTOUT_NOTIFY_URLS", "OPTOUT_HEADLESS", "OPTOUT_PRUNE_AFTER_DAYS",
              "OPTOUT_KEYRING_SERVICE", "OPTOUT_VIEWPORT_WIDTH", "OPTOUT_CRONTAB_COMMAND"]
ENV_VALUES = st.one_of(st.sampled_from(["0", "-1", "-0.5", "nan", "inf", "1e999", "[]", "[1", '["a"]', "", "true",
                                        "http://", "https://x.com", "99999999999999999999", "[" * 50_000]),
                       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20))


@FAST
@given(env=st.dictionaries(st.sampled_from(ENV_FIELDS), ENV_VALUES, min_size=1, max_size=3))
def test_environment_variables(tmp_path, env):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPTOUT_CONFIG_FILE", str(tmp_path / "none.toml"))
        for name, value in env.items():
            mp.setenv(name, value)
        try:
            loaded = load_settings()
        except BadInput as exc:
            assert exc.exit_code == ExitCode.BAD_INPUT
            return
    assert loaded.timeout_ms > 0 and 0 <= loaded.lock_timeout_s < float("inf") and loaded.concurrency >= 1


@FAST
@given(st.one_of(st.binary(max_size=200),
                 st.lists(st.sampled_from(["timeout_ms = ", "lock_timeout_s = ", "-5", "0", "1.5", "\n", '"x"',
                                           "[", "]", "notify_urls = ", '["ntfy://a/b"]', "base_url = ",
                                           '"http://127.0.0.1:1"', "bogus = 1", "[table]", "\xe9"]),
                          max_size=20).map(lambda bits: "".join(bits).encode("utf-8")),
                 st.integers(1, 60_000).map(lambda depth: ("notify_urls = " + "[" * depth).encode())))
def test_config_toml(tmp_path, data):
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPTOUT_CONFIG_FILE", str(path))
        for name in ENV_FIELDS:
            mp.delenv(name, raising=False)
        try:
            loaded = load_settings()
        except BadInput as exc:
            assert exc.exit_code == ExitCode.BAD_INPUT
            return
    assert loaded.timeout_ms > 0 and loaded.lock_timeout_s >= 0


@pytest.mark.parametrize("config,env,said", [
    ("timeout_ms = \n", {}, "not valid TOML"),
    ("timeout_ms = 5\ntimeout_ms = 6\n", {}, "not valid TOML"),
    ('locale = "caf\xe9"\n', {}, "not UTF-8"),
    ("", {"OPTOUT_LOCK_TIMEOUT_S": "-5"}, "lock_timeout_s"),
    ("", {"OPTOUT_RELOAD_BACKOFF_S": "inf"}, "reload_backoff_s"),
    ("pace_s = inf\n", {}, "pace_s"),
    ("timeout_ms = 0\n", {}, "timeout_ms"),
    ("", {"OPTOUT_NOTIFY_URLS": '["ntfy://secret-topic-123"'}, "notify_urls"),
    ("", {"OPTOUT_PAUSE_MIN_MS": "900", "OPTOUT_PAUSE_MAX_MS": "100"}, "pause_min_ms"),
])
def test_bad_configuration_is_exit_2_from_the_cli(optout_env, config, env, said):
    path = optout_env.home / "config" / "config.toml"
    path.write_bytes(config.encode("latin-1"))
    result = optout_env.run("doctor", "--browser-only", extra_env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert said in result.stderr and "secret-topic-123" not in result.stderr


@FAST
@given(st.binary(max_size=300))
def test_credentials_file_any_bytes(tmp_path, data):
    from optout.accounts_import import _read

    path = tmp_path / "creds.csv"
    path.write_bytes(data)
    try:
        _parse(_read(str(path), io.StringIO()), str(path))
    except BadInput as exc:
        assert exc.exit_code == ExitCode.BAD_INPUT
