"""The history database: runs, per-account results, per-setting outcomes, privacy-policy versions.

SQLite in the state dir, in WAL mode with synchronous=FULL, so every recorded account result is on disk
the moment `record_result` returns: a batch killed half-way resumes from `finished_handles(run_id)`, and a
process killed mid-write leaves the last committed state intact. Schema changes are a list of migration
steps applied in order and counted by PRAGMA user_version. Only bound parameters; only what the models
hold (outcomes, messages, paths), never a password, code or cookie.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from optout import __version__
from optout.config import Settings
from optout.errors import EnvironmentProblem
from optout.files import make_private_dir
from optout.models import AccountResult, utcnow

BUSY_TIMEOUT_MS = 10_000

# Each step moves the schema from version N to N+1. Never edit a shipped step: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        base_url TEXT NOT NULL,
        tool_version TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        exit_code INTEGER
    );
    CREATE TABLE account_results (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        handle TEXT NOT NULL,
        mode TEXT NOT NULL,
        outcome TEXT NOT NULL,
        message TEXT,
        hint TEXT,
        evidence_dir TEXT,
        receipt_path TEXT,
        logged_in INTEGER NOT NULL,
        started_at TEXT,
        finished_at TEXT NOT NULL
    );
    CREATE INDEX account_results_run ON account_results(run_id, handle);
    CREATE INDEX account_results_handle ON account_results(handle, finished_at);
    CREATE TABLE setting_outcomes (
        id INTEGER PRIMARY KEY,
        result_id INTEGER NOT NULL REFERENCES account_results(id) ON DELETE CASCADE,
        setting TEXT NOT NULL,
        url TEXT,
        before INTEGER,
        after INTEGER,
        changed INTEGER NOT NULL,
        verified_after_reload INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        message TEXT
    );
    CREATE INDEX setting_outcomes_result ON setting_outcomes(result_id);
    CREATE TABLE policy_versions (
        id INTEGER PRIMARY KEY,
        text_hash TEXT NOT NULL UNIQUE,
        effective_date TEXT,
        effective_label TEXT NOT NULL,
        url TEXT NOT NULL,
        text TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # The receipt's SHA-256 as written: `optout verify` compares the evidence folder with it, so rewriting
    # the newest receipt and chain.json together (or deleting the newest run) no longer goes unnoticed.
    "ALTER TABLE account_results ADD COLUMN receipt_sha256 TEXT",
)


class RunRow(BaseModel):
    id: int
    command: str
    base_url: str
    tool_version: str
    started_at: datetime
    finished_at: datetime | None = None
    exit_code: int | None = None


class SettingRow(BaseModel):
    setting: str
    before: bool | None = None
    after: bool | None = None
    changed: bool = False
    outcome: str


class HistoryEntry(BaseModel):
    """One account's result in one run, as `optout history` shows it."""

    run_id: int
    command: str
    handle: str
    mode: str
    outcome: str
    message: str | None = None
    evidence_dir: str | None = None
    receipt_path: str | None = None
    receipt_sha256: str | None = None
    logged_in: bool
    finished_at: datetime
    settings: list[SettingRow] = Field(default_factory=list)


class StoredPolicy(BaseModel):
    """A privacy-policy version as stored: the normalised text and its SHA-256."""

    text_hash: str
    effective_date: str | None = None  # ISO date when it could be parsed
    effective_label: str  # as the page wrote it, e.g. "January 15, 2026"
    url: str
    text: str
    first_seen: datetime
    last_seen: datetime

    @property
    def receipt_label(self) -> str:
        """How a receipt names the version: the date people know it by, and the hash that pins its text."""
        return f"{self.effective_label} (sha256 {self.text_hash[:12]})"


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class Store:
    """One connection to the history database. Use as a context manager, or call close()."""

    def __init__(self, path: Path) -> None:
        make_private_dir(path.parent)
        conn = None
        try:
            # isolation_level=None: no implicit transactions; every write below says where it commits.
            self.conn = conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                           f"busy_timeout={BUSY_TIMEOUT_MS}"):
                self.conn.execute(f"PRAGMA {pragma}")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if conn is not None:  # closed now, not at a garbage collection after its POSIX locks were lost
                conn.close()
            raise EnvironmentProblem(
                f"The history database {path} cannot be opened ({exc}).",
                hint="Check the state dir's permissions and free space; move the file aside to start afresh.",
            ) from None
        self.path = path

    @classmethod
    def open(cls, settings: Settings) -> Store:
        return cls(settings.db_path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, taken with the write lock up front so concurrent writers queue, not deadlock."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, step.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(number)}")

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    # ---- runs and results ----

    def start_run(self, command: str, base_url: str) -> int:
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO runs (command, base_url, tool_version, started_at) VALUES (?, ?, ?, ?)",
                (command, base_url, __version__, _ts(utcnow())),
            )
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, exit_code: int) -> None:
        with self._write() as conn:
            conn.execute("UPDATE runs SET finished_at = ?, exit_code = ? WHERE id = ?",
                         (_ts(utcnow()), int(exit_code), run_id))

    def record_result(self, run_id: int, result: AccountResult) -> int:
        """Store one account's result and its settings in one transaction, committed before returning."""
        finished = result.finished_at or utcnow()
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO account_results (run_id, handle, mode, outcome, message, hint, evidence_dir,"
                " receipt_path, receipt_sha256, logged_in, started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, result.handle, str(result.mode), str(result.outcome), result.message, result.hint,
                 result.evidence_dir, result.receipt, result.receipt_sha256, int(result.logged_in),
                 _ts(result.started_at), _ts(finished)),
            )
            result_id = int(cur.lastrowid)
            conn.executemany(
                "INSERT INTO setting_outcomes (result_id, setting, url, before, after, changed,"
                " verified_after_reload, outcome, message) VALUES (?,?,?,?,?,?,?,?,?)",
                [(result_id, s.setting, s.url, s.before, s.after, int(s.changed), int(s.verified_after_reload),
                  str(s.outcome), s.message) for s in result.settings],
            )
            return result_id

    def run(self, run_id: int) -> RunRow | None:
        row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return RunRow(**dict(row)) if row else None

    def history(self, handle: str | None = None, limit: int = 20) -> list[HistoryEntry]:
        """Newest first: each account result with its run's command and its settings' outcomes."""
        sql = ("SELECT a.*, r.command FROM account_results a JOIN runs r ON r.id = a.run_id"
               + (" WHERE a.handle = ?" if handle else "") + " ORDER BY a.id DESC LIMIT ?")
        params = ([handle] if handle else []) + [int(limit)]
        entries = []
        for row in self.conn.execute(sql, params).fetchall():
            entries.append(HistoryEntry(
                run_id=row["run_id"], command=row["command"], receipt_path=row["receipt_path"],
                settings=[SettingRow(**s) for s in self._settings_of(row["id"])], **_common_fields(row),
            ))
        return entries

    def applied_settings(self, handle: str) -> list[str]:
        """The settings the newest apply-mode result of `handle` dealt with: what a recheck re-checks. A
        result that stopped before any setting (a failed login) says nothing about them and is passed over."""
        row = self.conn.execute(
            "SELECT id FROM account_results r WHERE handle = ? AND mode = 'apply'"
            " AND EXISTS (SELECT 1 FROM setting_outcomes s WHERE s.result_id = r.id) ORDER BY id DESC LIMIT 1",
            (handle,)).fetchone()
        if not row:
            return []
        rows = self.conn.execute("SELECT setting FROM setting_outcomes WHERE result_id = ? ORDER BY id",
                                 (row["id"],))
        return [r["setting"] for r in rows]

    # ---- privacy policy ----

    def record_policy(self, *, text_hash: str, effective_date: str | None, effective_label: str, url: str,
                      text: str) -> tuple[StoredPolicy, bool]:
        """Note that this version was seen now; True when its text was never seen before."""
        now = _ts(utcnow())
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO policy_versions (text_hash, effective_date, effective_label, url, text,"
                " first_seen, last_seen) VALUES (?,?,?,?,?,?,?) ON CONFLICT(text_hash) DO NOTHING",
                (text_hash, effective_date, effective_label, url, text, now, now),
            )
            is_new = cur.rowcount == 1
            if not is_new:
                conn.execute("UPDATE policy_versions SET last_seen = ? WHERE text_hash = ?", (now, text_hash))
        return self.policy(text_hash), is_new

    def policy(self, text_hash: str) -> StoredPolicy | None:
        row = self.conn.execute("SELECT * FROM policy_versions WHERE text_hash = ?", (text_hash,)).fetchone()
        return self._policy(row) if row else None

    def policies(self, limit: int = 2) -> list[StoredPolicy]:
        """Most recently seen first: [current, the one before it, ...]."""
        rows = self.conn.execute("SELECT * FROM policy_versions ORDER BY last_seen DESC, id DESC LIMIT ?",
                                 (int(limit),))
        return [self._policy(r) for r in rows]

    @staticmethod
    def _policy(row: sqlite3.Row) -> StoredPolicy:
        data = dict(row)
        data.pop("id")
        return StoredPolicy(**data)

    # ---- small named values (e.g. the policy hash the last recheck saw) ----

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)"
                         " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # ---- batch runs (added for batch.py, issue 6): what a resumed batch already has ----

    def receipt_hashes(self) -> dict[str, str]:
        """Every receipt the history knows (path -> SHA-256 as written), for `optout verify`."""
        rows = self.conn.execute("SELECT receipt_path, receipt_sha256 FROM account_results"
                                 " WHERE receipt_path IS NOT NULL AND receipt_sha256 IS NOT NULL")
        return {r["receipt_path"]: r["receipt_sha256"] for r in rows}

    def routine_receipts(self) -> set[str]:
        """Receipts of runs that changed nothing and found nothing on (outcome ok, every setting read was
        already off): the only ones `optout prune` removes, so the only ones verify may find pruned."""
        rows = self.conn.execute(
            "SELECT receipt_path FROM account_results r WHERE outcome = 'ok' AND receipt_path IS NOT NULL"
            " AND EXISTS (SELECT 1 FROM setting_outcomes s WHERE s.result_id = r.id)"
            " AND NOT EXISTS (SELECT 1 FROM setting_outcomes s WHERE s.result_id = r.id AND s.outcome != 'already_off')")
        return {r["receipt_path"] for r in rows}

    def _settings_of(self, result_id: int) -> list[dict]:
        """One result's setting rows with every column either model reads (each ignores the rest)."""
        return [dict(r) for r in self.conn.execute(
            "SELECT setting, url, before, after, changed, verified_after_reload, outcome, message"
            " FROM setting_outcomes WHERE result_id = ? ORDER BY id", (result_id,))]

    def run_results(self, run_id: int) -> list[AccountResult]:
        """The newest recorded result of each account of run `run_id`, in the order they finished."""
        from optout.models import SettingResult  # local: keeps this block self-contained

        rows = self.conn.execute(
            "SELECT * FROM account_results WHERE id IN (SELECT MAX(id) FROM account_results WHERE run_id = ?"
            " GROUP BY handle) ORDER BY id", (run_id,)).fetchall()
        results = []
        for row in rows:
            results.append(AccountResult(
                hint=row["hint"], receipt=row["receipt_path"], started_at=row["started_at"] or row["finished_at"],
                settings=[SettingResult(**s) for s in self._settings_of(row["id"])], **_common_fields(row),
            ))
        return results


def _common_fields(row: sqlite3.Row) -> dict:
    """The account_results columns HistoryEntry and AccountResult share, under the same names."""
    return {"handle": row["handle"], "mode": row["mode"], "outcome": row["outcome"], "message": row["message"],
            "evidence_dir": row["evidence_dir"], "receipt_sha256": row["receipt_sha256"],
            "logged_in": bool(row["logged_in"]), "finished_at": row["finished_at"]}


def recorded_receipts(settings: Settings) -> tuple[dict[str, str], set[str]]:
    """The receipts' hashes as the history recorded them, and which of them were routine runs (that
    `optout prune` may have removed); nothing when there is no history yet."""
    if not settings.db_path.is_file():
        return {}, set()
    with Store.open(settings) as store:
        return store.receipt_hashes(), store.routine_receipts()


def history(settings: Settings, handle: str | None = None, limit: int = 20) -> list[HistoryEntry]:
    """`optout history`: newest results first, of one account or all."""
    with Store.open(settings) as store:
        return store.history(handle, limit)
