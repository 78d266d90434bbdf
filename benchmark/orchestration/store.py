"""Results store: one SQLite file in WAL mode. Every result row, its job's config hash, code
version and status. A job's rows and its `done` status are written in one transaction, so a crash
leaves either the whole job or nothing; several writers wait on each other (busy timeout)."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    config_hash TEXT PRIMARY KEY,
    group_hash TEXT NOT NULL,      -- the config without its seed: one leaderboard cell
    suite TEXT NOT NULL, method TEXT NOT NULL, dataset TEXT NOT NULL, domain TEXT NOT NULL,
    encoder TEXT NOT NULL, pretrain_budget TEXT NOT NULL, seed INTEGER NOT NULL,
    config_json TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    code_version TEXT NOT NULL, created_at TEXT NOT NULL, wall_s REAL, history_json TEXT,
    dataset_version TEXT NOT NULL DEFAULT '',  -- the dataset release read (Adapter.version)
    init TEXT NOT NULL DEFAULT 'random'  -- the encoder's initialization (schema 1.2)
);
CREATE TABLE IF NOT EXISTS results (
    config_hash TEXT NOT NULL REFERENCES jobs(config_hash),
    protocol TEXT NOT NULL, probe TEXT NOT NULL, fraction REAL NOT NULL,
    corruption TEXT NOT NULL DEFAULT '', severity INTEGER NOT NULL DEFAULT 0,
    ood_partner TEXT NOT NULL DEFAULT '', metric TEXT NOT NULL, value REAL,
    PRIMARY KEY (config_hash, protocol, probe, fraction, corruption, severity, ood_partner, metric)
);
"""
JOB_FIELDS = (
    "config_hash",
    "group_hash",
    "suite",
    "method",
    "dataset",
    "domain",
    "encoder",
    "pretrain_budget",
    "seed",
    "init",
)
JOB_COLUMNS = (
    *JOB_FIELDS,
    "config_json",
    "status",
    "error",
    "code_version",
    "created_at",
    "wall_s",
    "history_json",
    "dataset_version",
)


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ResultStore:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=60000")
        # Switching a new file to WAL needs an exclusive lock and SQLite does not always wait for it
        # (two runners opening one fresh store at once: "database is locked"), so retry it.
        self._retry(lambda c: c.execute("PRAGMA journal_mode=WAL"), attempts=100)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._retry(lambda c: c.executescript(SCHEMA))
        self._retry(self._add_missing_columns)

    @staticmethod
    def _add_missing_columns(c: sqlite3.Connection) -> None:
        """A store written before `dataset_version` or the init axis existed gets the columns (empty,
        and `random` for every job in it). Another process may add one first."""
        cols = {r[1] for r in c.execute("PRAGMA table_info(jobs)")}
        for name, decl in (
            ("dataset_version", "TEXT NOT NULL DEFAULT ''"),
            ("init", "TEXT NOT NULL DEFAULT 'random'"),
        ):
            if name not in cols:
                try:
                    c.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
                except sqlite3.OperationalError as e:
                    if "duplicate column" not in str(e):
                        raise

    def close(self):
        self._conn.close()

    def _retry(self, fn, attempts: int = 20):
        for i in range(attempts):
            try:
                return fn(self._conn)
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or i == attempts - 1:
                    raise
                time.sleep(0.05 * (i + 1))

    def status(self, config_hash: str) -> str | None:
        row = self._conn.execute("SELECT status FROM jobs WHERE config_hash=?", (config_hash,)).fetchone()
        return row[0] if row else None

    def done_hashes(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT config_hash FROM jobs WHERE status='done'")}

    def training_fingerprints(self) -> dict[str, str]:
        """config hash → the training fingerprint its done job recorded (jobs recorded before it existed
        have none and are left out)."""
        q = (
            "SELECT config_hash, json_extract(history_json, '$.training_fingerprint') FROM jobs "
            "WHERE status='done' AND json_valid(history_json)"
        )
        return {h: fp for h, fp in self._conn.execute(q) if fp}

    def record(
        self,
        job: dict[str, Any],
        rows: Iterable[dict[str, Any]],
        status: str = "done",
        error: str | None = None,
        history: Any = None,
        wall_s: float | None = None,
        code_version: str = "",
    ) -> None:
        """Replace the job's rows and status atomically (BEGIN IMMEDIATE … COMMIT)."""
        rows = list(rows)

        def tx(c: sqlite3.Connection):
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute("DELETE FROM results WHERE config_hash=?", (job["config_hash"],))
                c.execute(
                    f"INSERT OR REPLACE INTO jobs ({', '.join(JOB_COLUMNS)}) "
                    f"VALUES ({','.join('?' * len(JOB_COLUMNS))})",
                    (
                        *[job.get(k, "random") if k == "init" else job[k] for k in JOB_FIELDS],
                        json.dumps(job["config"], sort_keys=True),
                        status,
                        error,
                        code_version,
                        now_iso(),
                        wall_s,
                        json.dumps(history) if history is not None else None,
                        job.get("dataset_version", ""),
                    ),
                )
                c.executemany(
                    "INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            job["config_hash"],
                            r["protocol"],
                            r["probe"],
                            float(r["fraction"]),
                            r.get("corruption", ""),
                            int(r.get("severity", 0)),
                            r.get("ood_partner", ""),
                            r["metric"],
                            None if r["value"] is None else float(r["value"]),
                        )
                        for r in rows
                    ],
                )
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

        self._retry(tx)

    def frame(self, suite: str | None = None):
        """All results of done jobs joined with their job columns, as a pandas DataFrame."""
        import pandas as pd

        q = (
            "SELECT j.config_hash, j.group_hash, j.suite, j.method, j.dataset, j.domain, j.encoder, j.init, "
            "j.pretrain_budget, j.seed, json_extract(j.config_json, '$.cv_fold') AS fold, "
            "j.code_version, j.dataset_version, j.created_at, r.protocol, "
            "r.probe, r.fraction, "
            "r.corruption, r.severity, r.ood_partner, r.metric, r.value "
            "FROM results r JOIN jobs j USING (config_hash) WHERE j.status='done'"
        )
        params: tuple = ()
        if suite:
            q += " AND j.suite=?"
            params = (suite,)
        return pd.read_sql_query(q, self._conn, params=params)

    def histories(self, suite: str | None = None) -> list[tuple[str, dict]]:
        """(dataset, history) of every done job (of `suite`): what a job noted besides its rows,
        e.g. the OOD partners it had to leave out (`ood_missing`)."""
        q = "SELECT dataset, history_json FROM jobs WHERE status='done'"
        rows = self._conn.execute(q + (" AND suite=?" if suite else ""), (suite,) if suite else ()).fetchall()
        out = []
        for dataset, h in rows:
            try:
                out.append((dataset, json.loads(h) if h else {}))
            except ValueError:
                out.append((dataset, {}))
        return out

    def suites(self) -> list[str]:
        """The suites this store holds jobs of."""
        return sorted(r[0] for r in self._conn.execute("SELECT DISTINCT suite FROM jobs"))

    def jobs(self, status: str | None = None) -> list[dict[str, Any]]:
        q = (
            "SELECT config_hash, group_hash, suite, method, dataset, encoder, init, pretrain_budget, seed, "
            "status, error, wall_s, created_at FROM jobs"
        )
        cur = self._conn.execute(q + (" WHERE status=?" if status else ""), (status,) if status else ())
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


class RerunStore:
    """A store through which the jobs `rerun` (config hashes) count as not yet done, so `run --rerun`
    runs them again; their stored rows stay until each new run records its own (atomically)."""

    def __init__(self, store: ResultStore, rerun: set[str]):
        self._store, self._rerun = store, frozenset(rerun)

    def done_hashes(self) -> set[str]:
        return self._store.done_hashes() - self._rerun

    def __getattr__(self, name: str):
        return getattr(self._store, name)
