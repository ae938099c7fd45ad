"""Proxy URLs: what is accepted, and that a password never sits in a URL or an error message."""

from __future__ import annotations

import pytest

from optout.errors import BadInput
from optout.proxy import parse_proxy


def test_a_proxy_is_scheme_host_port_and_maybe_a_user():
    p = parse_proxy("socks5://relay.example:1080")
    assert (p.server, p.username, p.key) == ("socks5://relay.example:1080", None, "socks5://relay.example:1080")
    u = parse_proxy("http://newsroom%2B7@10.1.2.3:3128")
    assert (u.server, u.username, u.key) == ("http://10.1.2.3:3128", "newsroom+7", "http://newsroom+7@10.1.2.3:3128")
    assert parse_proxy("https://p.example").port == 443


def test_the_password_belongs_in_the_keyring_and_is_never_echoed():
    with pytest.raises(BadInput) as err:
        parse_proxy("http://user:hunter2-secret@proxy.example:8080")
    assert "hunter2-secret" not in str(err.value) and "optout proxy password http://user@proxy.example:8080" in str(err.value)


@pytest.mark.parametrize("bad", ["ftp://p.example:21", "proxy.example:8080", "http://", "http://p.example:99999",
                                 "http://p.example:8080/path", "http://:pw-leak@p.example:1"])
def test_anything_else_is_bad_input_without_the_secret(bad):
    with pytest.raises(BadInput) as err:
        parse_proxy(bad)
    assert "pw-leak" not in str(err.value)


def test_a_user_without_a_stored_password_is_told_how_to_store_it():
    with pytest.raises(BadInput) as err:
        parse_proxy("http://alice@p.example:3128").playwright(lambda proxy: None)
    assert "optout proxy password http://alice@p.example:3128" in str(err.value)
    option = parse_proxy("http://alice@p.example:3128").playwright(lambda proxy: "s3cret")
    assert option == {"server": "http://p.example:3128", "bypass": "<-loopback>", "username": "alice", "password": "s3cret"}


def test_an_accounts_file_names_each_accounts_proxy(tmp_path):
    from optout.accounts_file import load_accounts

    csv = tmp_path / "a.csv"
    csv.write_text("handle,proxy\nalice,socks5://10.0.0.7:1080\nbob,\n")
    alice, bob = load_accounts(csv).accounts
    assert (alice.proxy, bob.proxy) == ("socks5://10.0.0.7:1080", None)
    bad = tmp_path / "b.csv"
    bad.write_text("handle,proxy\nalice,http://u:pw-in-file@10.0.0.7:3128\n")
    with pytest.raises(BadInput) as err:
        load_accounts(bad)
    assert "keyring" in str(err.value) and "pw-in-file" not in str(err.value)
