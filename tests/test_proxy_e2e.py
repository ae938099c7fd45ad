"""Every request of an account through its proxy: the global --proxy, and a per-account proxy of an
accounts file whose user's password comes only from the keyring (`optout proxy password`)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from tests.forward_proxy import ForwardProxy
from tests.secrets_scan import find_leaks

BP = "allow_sharing_data_for_third_party_personalization"


def _account(optout_env, replica) -> str:
    handle, password = "px_" + uuid.uuid4().hex[:6], "pw-" + uuid.uuid4().hex[:12]
    replica.admin.add_account({"handle": handle, "password": password})
    assert optout_env.run("accounts", "add", handle, "--password-stdin", input=password + "\n").returncode == 0
    return handle


def test_global_proxy_carries_the_whole_run(optout_env, fresh_replica):
    handle = _account(optout_env, fresh_replica)
    replica_host = urlsplit(fresh_replica.base_url).netloc
    with ForwardProxy() as proxy:
        result = optout_env.run("--proxy", proxy.url, "run", handle, "--setting", "business-partners")
    assert result.returncode == 0, result.stdout + result.stderr
    assert fresh_replica.admin.get_account(handle)["settings"][BP] is False
    # login, pages and saves all came through it (Chromium's own background requests may too)
    assert len([host for host, _ in proxy.seen if host == replica_host]) > 5


def test_per_account_proxy_with_its_password_from_the_keyring(optout_env, fresh_replica, tmp_path):
    handle = _account(optout_env, fresh_replica)
    secret = "proxy-" + uuid.uuid4().hex
    with ForwardProxy(user="newsroom", password=secret) as proxy:
        url = f"http://newsroom@127.0.0.1:{proxy.port}"
        accounts = tmp_path / "accounts.toml"
        accounts.write_text(f'[[account]]\nhandle = "{handle}"\nsettings = ["business-partners"]\nproxy = "{url}"\n')
        missing = optout_env.run("batch", str(accounts), "--json")
        assert missing.returncode == 1 and f"optout proxy password {url}" in " ".join(missing.stdout.split())
        assert optout_env.run("proxy", "password", url, "--password-stdin", input=secret + "\n").returncode == 0
        result = optout_env.run("batch", str(accounts), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert fresh_replica.admin.get_account(handle)["settings"][BP] is False
    assert proxy.seen and all(authenticated for _, authenticated in proxy.seen)
    assert find_leaks([secret], optout_env.written_files(), optout_env.outputs) == []


def test_a_password_in_a_proxy_url_is_refused_and_not_echoed(optout_env, fresh_replica, tmp_path):
    accounts = tmp_path / "accounts.toml"
    accounts.write_text('[[account]]\nhandle = "alice"\nproxy = "http://u:leaked-pw@127.0.0.1:3128"\n')
    bad_file = optout_env.run("batch", str(accounts))
    bad_flag = optout_env.run("--proxy", "http://u:leaked-pw@127.0.0.1:3128", "check", "alice")
    for result in (bad_file, bad_flag):
        assert result.returncode == 2 and "keyring" in result.stderr and "leaked-pw" not in result.stdout + result.stderr
