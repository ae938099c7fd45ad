"""The policy watcher: reads the replica's /en/privacy, records each version once, shows a diff, and
treats a dead network or an unrecognisable page as an error, never as a new version."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from optout import policy
from optout.config import load_settings
from optout.errors import EnvironmentProblem, PolicyUnreadable
from optout.store import Store
from local_server import port_of, serving

BODY = "<p>" + "We collect information to run X and to keep it safe. " * 6 + "</p>"


def _page(effective_line: str, body: str = BODY, extra: str = "") -> str:
    return (f"<html><head><title>X</title><script>var x = 1;</script></head><body><nav>Menu</nav>"
            f"<main><h1>X Privacy Policy</h1><p>{effective_line}</p>{body}{extra}</main></body></html>")


@pytest.mark.parametrize("line, label, when", [
    ("Effective: January 15, 2026", "January 15, 2026", date(2026, 1, 15)),
    ("Gültig ab: 15. Januar 2026", "15. Januar 2026", date(2026, 1, 15)),
    ("Vigente desde: 15 de enero de 2026", "15 de enero de 2026", date(2026, 1, 15)),
    ("発効日：2026年1月15日", "2026年1月15日", date(2026, 1, 15)),
    ("Effective: Januar 15, 2026", "Januar 15, 2026", date(2026, 1, 15)),
])
def test_effective_date_in_several_languages(line, label, when):
    snap = policy.parse_policy(_page(line), "u")
    assert (snap.effective_label, snap.effective_date) == (label, when)
    assert "var x" not in snap.text and "Menu" not in snap.text  # scripts and navigation are not policy


def test_markup_changes_keep_the_hash_wording_changes_do_not():
    base = policy.parse_policy(_page("Effective: January 15, 2026"), "u")
    reformatted = policy.parse_policy(_page("Effective:   January 15, 2026", BODY.replace(". ", ".\n   ")
                                            .replace("<p>", "<p class='new'>  ")), "u")
    assert reformatted.text_hash == base.text_hash
    reworded = policy.parse_policy(_page("Effective: January 15, 2026", BODY.replace("safe", "secure")), "u")
    assert reworded.text_hash != base.text_hash
    with_links = policy.parse_policy(_page("Effective: January 15, 2026", extra=(
        '<ul><li><a href="/en/privacy/previous/version_20">Effective November 15, 2024</a></li></ul>')), "u")
    assert with_links.text_hash == base.text_hash  # links to older versions are not the policy's text


@pytest.mark.parametrize("html", [
    _page("Last updated recently"),  # no effective date
    _page("Effective: January 15, 2026", body="<p>Short.</p>"),  # a shell, not a policy
    "<html><body><div id=react-root></div><script>boot()</script></body></html>",
])
def test_unrecognisable_pages_are_errors(html):
    with pytest.raises(PolicyUnreadable, match="could not be read"):
        policy.parse_policy(html, "http://x/en/privacy")


def _settings(tmp_path, base_url):
    return load_settings(base_url=base_url, state_dir=tmp_path / "state", data_dir=tmp_path / "data")


def test_replica_versions_are_detected_recorded_and_diffed(tmp_path, fresh_replica):
    settings = _settings(tmp_path, fresh_replica.base_url)
    current = fresh_replica.admin.policy()["current"]
    newer = max(fresh_replica.admin.policy()["versions"], key=lambda v: int(str(v).rsplit("_", 1)[1]))
    assert newer != current
    with Store.open(settings) as db:
        first = asyncio.run(policy.check_policy(settings, db))
        assert first.first_reading and not first.new_version
        again = asyncio.run(policy.check_policy(settings, db))
        assert not again.new_version and again.current.text_hash == first.current.text_hash
        assert policy.diff(db) is None

        fresh_replica.admin.set_policy(newer)
        changed = asyncio.run(policy.check_policy(settings, db))
        assert changed.new_version and changed.previous.text_hash == first.current.text_hash
        assert changed.current.effective_label != first.current.effective_label
        d = policy.diff(db)
        assert d.summary[0] == (f"Effective date changed from {first.current.effective_label} to "
                                f"{changed.current.effective_label}.")
        assert f"-Effective: {first.current.effective_label}" in d.unified
        assert f"+Effective: {changed.current.effective_label}" in d.unified

        fresh_replica.admin.set_policy(current)  # back to a version already known: not new
        back = asyncio.run(policy.check_policy(settings, db))
        assert not back.new_version and back.current.text_hash == first.current.text_hash
        assert db.conn.execute("SELECT count(*) FROM policy_versions").fetchone()[0] == 2


def test_unreachable_site_is_an_environment_problem_and_records_nothing(tmp_path):
    settings = _settings(tmp_path, "http://127.0.0.1:9")  # discard port: nothing listens
    with Store.open(settings) as db:
        with pytest.raises(EnvironmentProblem, match="Could not reach"):
            asyncio.run(policy.check_policy(settings, db))
        assert db.policies() == []


class _Junk(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        body = b"<html><body><h1>Something went wrong</h1></body></html>"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status", [200, 403])
def test_unrecognisable_live_page_records_nothing(tmp_path, status):
    handler = type("Junk", (_Junk,), {"status": status})
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as server:
        settings = _settings(tmp_path, f"http://127.0.0.1:{port_of(server)}")
        with Store.open(settings) as db:
            with pytest.raises(PolicyUnreadable):
                asyncio.run(policy.check_policy(settings, db))
            assert db.policies() == []


class _Shell(_Junk):
    """A page that draws the policy with JavaScript, as X might one day: plain HTTP sees an empty shell."""

    def do_GET(self):
        policy_html = _page("Effective: March 3, 2027").split("<body>")[1].split("</body>")[0]
        body = (f"<html><body><div id=root></div><script>document.getElementById('root').innerHTML = "
                f"{json.dumps(policy_html)};</script></body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)


def test_a_page_drawn_by_javascript_is_read_with_the_browser(tmp_path):
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Shell)) as server:
        settings = _settings(tmp_path, f"http://127.0.0.1:{port_of(server)}")
        with Store.open(settings) as db, pytest.raises(PolicyUnreadable):
            asyncio.run(policy.check_policy(settings, db))  # plain HTTP alone cannot
        check = policy.show_current(settings)
        assert check.current.effective_label == "March 3, 2027" and "keep it safe" in check.current.text


def test_policy_commands(optout_env, fresh_replica):
    shown = optout_env.run("policy", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["first_reading"] is True and data["current"]["effective_label"]
    none_yet = optout_env.run("policy", "diff")
    assert none_yet.returncode == 0 and "Only one version" in none_yet.stdout

    versions = fresh_replica.admin.policy()["versions"]
    fresh_replica.admin.set_policy(max(versions, key=lambda v: int(str(v).rsplit("_", 1)[1])))
    newer = optout_env.run("policy")
    assert newer.returncode == 0 and "New version" in newer.stdout
    shown_diff = optout_env.run("policy", "diff")
    assert shown_diff.returncode == 0
    assert "Effective date changed from" in shown_diff.stdout and "\n+Effective: " in shown_diff.stdout

    down = optout_env.run("policy", "--json", extra_env={"OPTOUT_BASE_URL": "http://127.0.0.1:9"})
    assert down.returncode == 5 and json.loads(down.stdout)["error"] == "EnvironmentProblem"
