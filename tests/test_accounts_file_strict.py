"""The accounts file's YAML is read by libyaml's C parser where PyYAML has it (issue 13 item 4) and stays
strict (issue 12 item 11): a duplicate key, a merge key, an alias, absurd nesting or bytes that are not
UTF-8 end in BadInput naming the file and line (exit 2 from the CLI), never in a silently resolved file."""

from __future__ import annotations

import pytest
import yaml

from optout.accounts_file import StrictYAMLLoader, load_accounts
from optout.errors import BadInput, ExitCode


def _problem(tmp_path, text: str | bytes, name: str = "accounts.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(BadInput) as bad:
        load_accounts(path)
    assert bad.value.exit_code == ExitCode.BAD_INPUT
    return bad.value.message


def test_the_c_parser_is_used_where_pyyaml_has_it():
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml here")
    assert issubclass(StrictYAMLLoader, yaml.CSafeLoader)


@pytest.mark.parametrize("text,line,said", [
    ("- handle: alice\n  tags: [a]\n  handle: mallory\n", 3, "'handle' appears twice"),
    ("accounts:\n  - handle: alice\naccounts:\n  - handle: bob\n", 3, "'accounts' appears twice"),
    ("base: &b {settings: [grok-training]}\naccounts:\n  - handle: alice\n    <<: *b\n", 4, "merge keys"),
    ("- &a {handle: alice}\n- *a\n", 1, "aliases"),  # the line of the anchored value
    ("- handle: alice\n  ? [a, b]\n  : x\n", 2, "plain word"),
])
def test_yaml_ambiguities_are_refused_with_the_line(tmp_path, text, line, said):
    message = _problem(tmp_path, text)
    assert said in message and f"line {line}" in message and "not valid YAML" in message


def test_deep_nesting_and_bytes_that_are_not_utf8(tmp_path):
    assert "not valid YAML" in _problem(tmp_path, "- handle: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "UTF-8" in _problem(tmp_path, "- handle: caf\xe9\n".encode("latin-1"))
    assert "UTF-8" in _problem(tmp_path, "handle\ncaf\xe9\n".encode("latin-1"), "accounts.csv")
    assert "not valid TOML" in _problem(tmp_path, '[[account]]\nhandle = "a"\nhandle = "b"\n', "accounts.toml")


def test_a_large_file_loads_whole(tmp_path):
    """10,000 accounts, with the garbage collector paused while they load (it is running afterwards)."""
    import gc

    path = tmp_path / "many.yaml"
    path.write_text("".join(f"- handle: acct_{i:05d}\n  settings: [grok-training]\n" for i in range(10_000)))
    loaded = load_accounts(path)
    assert len(loaded.accounts) == 10_000 and loaded.accounts[-1].settings == ("grok-training",)
    assert gc.isenabled()
