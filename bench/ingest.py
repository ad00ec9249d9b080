"""Uploading 100,000 demonstrations (~50 MB of JSONL) through the real HTTP API, into PostgreSQL and SQLite.

    .venv/bin/python bench/ingest.py                       # both databases, 100,000 rows
    .venv/bin/python bench/ingest.py --rows 20000 --databases sqlite
    git archive <commit> backend migrations alembic.ini | tar -x -C /tmp/ingest-old
    .venv/bin/python bench/ingest.py --baseline /tmp/ingest-old   # old API code side by side

For each database (and each API tree: the baseline's, then this checkout's, one after the other on
the same file) the script migrates a fresh database (PostgreSQL: a schema of its own on
--postgres-url, dropped afterwards; SQLite: a temporary folder), starts uvicorn from that tree on a
free port, creates a skill and streams the file to POST /api/skills/{id}/datasets/preview (receive
+ one parse pass, stores nothing) and then to POST /api/skills/{id}/datasets (receive, then
validate, hash and store the rows, then commit). The API process's resident memory is sampled from
/proc/<pid>/status every 10 ms while each request is in flight. Upload minus preview is what
storing the rows costs on top of receiving and parsing. The machine's load average is recorded
before and after each run (the numbers are only comparable at similar load). Prints a table and
writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results" / "ingest.json"
VENV_BIN = Path(sys.executable).parent
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Above the 50 MiB default, so the generated ~50 MB file is never cut at the limit.
MAX_UPLOAD_BYTES = 96 * 1024 * 1024
WORDS = [
    "the",
    "model",
    "answers",
    "with",
    "a",
    "tool",
    "call",
    "in",
    "json",
    "format",
    "when",
    "asked",
    "about",
    "the",
    "weather",
    "stock",
    "price",
    "calendar",
    "event",
    "or",
    "unit",
    "conversion",
    "and",
    "explains",
    "its",
    "reasoning",
    "briefly",
    "before",
    "giving",
    "the",
    "result",
]


# --------------------------------------------------------------------------------------------- data
def write_demonstrations(path: Path, *, rows: int, seed: int = 0) -> int:
    """A JSONL file of `rows` distinct demonstrations, ~500 bytes each; returns its size in bytes.

    Mixes the accepted shapes: prompt + response (most), chat messages, and a context field, with
    one row in ten in the eval split."""
    rng = random.Random(seed)

    def sentence(words: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(words))

    with path.open("wb") as out:
        for index in range(rows):
            kind = index % 10
            if kind == 7:
                row: dict[str, Any] = {
                    "messages": [
                        {"role": "system", "content": "You call tools."},
                        {"role": "user", "content": f"#{index} {sentence(20)}?"},
                        {"role": "assistant", "content": sentence(45)},
                    ]
                }
            else:
                row = {"prompt": f"#{index} {sentence(22)}?", "response": sentence(50)}
            if kind == 3:
                row["context"] = sentence(12)
            if kind == 9:
                row["split"] = "eval"
            out.write(orjson.dumps(row) + b"\n")
    return path.stat().st_size


def parse_limits() -> Any:
    from backend.datasets.parsing import ParseLimits

    return ParseLimits(
        max_file_bytes=MAX_UPLOAD_BYTES, max_line_bytes=1024 * 1024, max_json_depth=32, max_examples=10**7
    )


def parse_only_seconds(path: Path) -> float:
    """One pass of the service's own parser over the file (what each server-side pass costs)."""
    from backend.datasets.parsing import iter_rows

    started = time.perf_counter()
    count = sum(1 for _ in iter_rows(path, parse_limits()))
    elapsed = time.perf_counter() - started
    assert count > 0
    return elapsed


# ------------------------------------------------------------------------------------------ server
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident), RssAnon (heap: what the process allocated) and RssFile (mapped files: the
    upload is memory-mapped while it is parsed, and those pages are page cache, reclaimable) in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


@dataclass
class RssSampler:
    """Peak resident memory of a process while a block runs, sampled every `interval_s`."""

    pid: int
    interval_s: float = 0.01
    peak_kib: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        for key, value in memory_kib(self.pid).items():
            self.peak_kib[key] = max(self.peak_kib.get(key, 0), value)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    @contextmanager
    def sampling(self) -> Iterator[RssSampler]:
        self.peak_kib = {}
        self._stop.clear()
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self._sample()


@contextmanager
def database(kind: str, postgres_url: str, data_dir: Path) -> Iterator[str]:
    """A migrated, empty database URL; PostgreSQL gets its own schema, dropped on exit."""
    if kind == "sqlite":
        url = f"sqlite:///{data_dir / 'apprentice.db'}"
        migrate(url, data_dir)
        yield url
        return
    from sqlalchemy import create_engine, text

    schema = f"bench_ingest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        migrate(url, data_dir)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def server_env(url: str, data_dir: Path, tree: Path = REPO_ROOT) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(tree),  # the API code under test, ahead of the editable install
        "DATABASE_URL": url,
        "DATA_DIR": str(data_dir),
        "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "MAX_EXAMPLES": str(10**7),
    }


def migrate(url: str, data_dir: Path) -> None:
    subprocess.run(
        [str(VENV_BIN / "alembic"), "upgrade", "head"],
        cwd=REPO_ROOT,
        env=server_env(url, data_dir),
        check=True,
        capture_output=True,
    )


@contextmanager
def api_server(url: str, data_dir: Path, tree: Path) -> Iterator[tuple[str, int]]:
    """uvicorn (one process, as `make run` starts it) serving `tree`'s API code on a free port;
    yields (base URL, pid)."""
    port = free_port()
    log = (data_dir / "uvicorn.log").open("wb")
    process = subprocess.Popen(
        [str(VENV_BIN / "uvicorn"), "backend.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tree,
        env=server_env(url, data_dir, tree),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {(data_dir / 'uvicorn.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not become healthy in 60 s")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def admin_headers(base: str, data_dir: Path) -> dict[str, str]:
    """Log in as the local admin the first start created (its password is in data_dir) and return
    the header of a fresh API token."""
    password = (data_dir / "admin-password.txt").read_text().split("password: ", 1)[1].strip()
    with httpx.Client(base_url=base, timeout=60) as client:
        login = client.post("/api/auth/login", json={"username": "admin", "password": password})
        login.raise_for_status()
        token = client.post(
            "/api/auth/tokens", json={"name": "bench"}, headers={"X-CSRF-Token": login.json()["csrf_token"]}
        )
        token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['token']}"}


# ------------------------------------------------------------------------------------------- bench
def post_file(client: httpx.Client, url: str, path: Path) -> tuple[httpx.Response, float]:
    with path.open("rb") as handle:
        started = time.perf_counter()
        # httpx streams a file object in the multipart body chunk by chunk.
        response = client.post(url, files={"file": ("demonstrations.jsonl", handle, "application/jsonl")})
        return response, time.perf_counter() - started


def count_stored_rows(url: str, version_id: int) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = text("SELECT count(*) FROM demonstration WHERE dataset_version_id = :version")
            return int(connection.scalar(query, {"version": version_id}) or 0)
    finally:
        engine.dispose()


def raw_insert_rates(url: str, file: Path, skill_id: int) -> dict[str, float]:
    """Rows/s of the bare insert methods on the same rows and database, right now (the machine is
    shared, so the API's numbers are read against these): SQLAlchemy Core executemany in batches
    of 1000 (what the service did up to 113ba71) and psycopg COPY (what it does since)."""
    from sqlalchemy import Table, create_engine, insert, text

    from backend.datasets.models import Demonstration
    from backend.datasets.parsing import iter_rows
    from backend.datasets.rows import Example

    engine = create_engine(url)
    table = Demonstration.__table__
    assert isinstance(table, Table)
    with engine.begin() as connection:
        version_id = connection.execute(
            text(
                "INSERT INTO dataset_version (skill_id, version, sha256, filename, format, n_examples, "
                "n_train, n_eval, n_rejected, report, created_at) "
                "VALUES (:skill, 1000, 'raw', 'raw', 'jsonl', 0, 0, 0, 0, '{}', now()) RETURNING id"
            ),
            {"skill": skill_id},
        ).scalar_one()
    examples = [row for row in iter_rows(file, parse_limits()) if isinstance(row, Example)]
    rows = [
        {
            "dataset_version_id": version_id,
            "index": index,
            "line": row.line,
            "split": row.split,
            "prompt": row.prompt,
            "demonstration": row.demonstration,
            "context": row.context,
            "reference": row.reference,
            "flags": row.flags or None,
        }
        for index, row in enumerate(examples)
    ]
    rates = {}
    try:
        started = time.perf_counter()
        with engine.begin() as connection:
            for start in range(0, len(rows), 1000):
                connection.execute(insert(table), rows[start : start + 1000])
        rates["core_executemany_rows_per_s"] = len(rows) / (time.perf_counter() - started)
        with engine.begin() as connection:
            connection.execute(
                text("DELETE FROM demonstration WHERE dataset_version_id = :v"), {"v": version_id}
            )
        columns = list(rows[0])
        quoted = ", ".join(f'"{name}"' for name in columns)  # "index" is a keyword
        started = time.perf_counter()
        with engine.begin() as connection:
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY demonstration ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(
                        [
                            orjson.dumps(value).decode() if name in ("prompt", "flags") and value else value
                            for name, value in row.items()
                        ]
                    )
        rates["copy_rows_per_s"] = len(rows) / (time.perf_counter() - started)
    finally:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM dataset_version WHERE id = :v"), {"v": version_id})
        engine.dispose()
    return rates


def bench_database(
    kind: str, *, code: str, tree: Path, file: Path, rows: int, postgres_url: str, raw_rates: bool
) -> dict[str, Any]:
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix=f"ingest-{kind}-") as folder,
        database(kind, postgres_url, Path(folder)) as url,
        api_server(url, Path(folder), tree) as (base, pid),
    ):
        sampler = RssSampler(pid)
        headers = admin_headers(base, Path(folder))
        with httpx.Client(base_url=base, timeout=600, headers=headers) as client:
            skill = client.post("/api/skills", json={"name": f"ingest-{kind}"})
            skill.raise_for_status()
            skill_id = skill.json()["id"]
            idle = memory_kib(pid)
            with sampler.sampling():
                preview, preview_s = post_file(client, f"/api/skills/{skill_id}/datasets/preview", file)
            preview.raise_for_status()
            preview_peak = dict(sampler.peak_kib)
            before_upload = memory_kib(pid)
            with sampler.sampling():
                upload, upload_s = post_file(client, f"/api/skills/{skill_id}/datasets", file)
            if upload.status_code != 201:
                raise RuntimeError(f"upload answered {upload.status_code}: {upload.text[:500]}")
            version = upload.json()
            upload_peak = dict(sampler.peak_kib)
        stored = count_stored_rows(url, version["id"])
        reference = raw_insert_rates(url, file, skill_id) if kind == "postgresql" and raw_rates else {}
    if version["n_examples"] != rows or stored != rows:
        raise RuntimeError(f"expected {rows} rows, version says {version['n_examples']}, table has {stored}")
    # The preview = receive + one parse pass; the upload = receive + parse + store + commit (the
    # baseline parsed twice: once to validate and hash, again while inserting). Upload - preview
    # is what storing costs on top of receiving and parsing once.
    store_s = max(upload_s - preview_s, 1e-9)
    mib = 1 / 1024
    return {
        "database": kind,
        "code": code,
        "rows": rows,
        "upload_s": upload_s,
        "rows_per_s": rows / upload_s,
        "preview_s": preview_s,
        "store_s": store_s,
        "store_rows_per_s": rows / store_s,
        "loadavg_before": list(load_before),
        "loadavg_after": list(os.getloadavg()),
        "idle_rss_mib": idle["VmRSS"] * mib,
        "preview_peak_rss_mib": preview_peak["VmRSS"] * mib,
        "preview_peak_anon_mib": preview_peak["RssAnon"] * mib,
        "rss_before_upload_mib": before_upload["VmRSS"] * mib,
        "anon_before_upload_mib": before_upload["RssAnon"] * mib,
        "upload_peak_rss_mib": upload_peak["VmRSS"] * mib,
        "upload_peak_anon_mib": upload_peak["RssAnon"] * mib,
        "upload_peak_file_mib": upload_peak["RssFile"] * mib,
        "upload_anon_growth_mib": (upload_peak["RssAnon"] - before_upload["RssAnon"]) * mib,
        "lifetime_vmhwm_mib": upload_peak["VmHWM"] * mib,
        "stored_rows": stored,
        **reference,
    }


COLUMNS = [
    ("database", "database", "{}"),
    ("code", "code", "{}"),
    ("load 1m", "load_1m", "{:.1f}"),
    ("upload s", "upload_s", "{:.2f}"),
    ("rows/s", "rows_per_s", "{:,.0f}"),
    ("preview s", "preview_s", "{:.2f}"),
    ("store s", "store_s", "{:.2f}"),
    ("store rows/s", "store_rows_per_s", "{:,.0f}"),
    ("idle RSS MiB", "idle_rss_mib", "{:.0f}"),
    ("peak RSS MiB", "upload_peak_rss_mib", "{:.0f}"),
    ("of it anon", "upload_peak_anon_mib", "{:.0f}"),
    ("of it mapped file", "upload_peak_file_mib", "{:.0f}"),
    ("anon growth MiB", "upload_anon_growth_mib", "{:.1f}"),
]


def print_table(results: list[dict[str, Any]]) -> None:
    rows = [{**result, "load_1m": result["loadavg_before"][0]} for result in results]
    cells = [[fmt.format(row[key]) for _, key, fmt in COLUMNS] for row in rows]
    widths = [max(len(title), *(len(row[i]) for row in cells)) for i, (title, _, _) in enumerate(COLUMNS)]
    print("  ".join(title.rjust(width) for (title, _, _), width in zip(COLUMNS, widths, strict=True)))
    for row in cells:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a tree with older API code (backend/, migrations/, alembic.ini) to run side by side",
    )
    parser.add_argument("--baseline-label", default="baseline")
    args = parser.parse_args()
    trees = [(args.baseline_label, args.baseline.resolve())] if args.baseline else []
    trees.append(("current", REPO_ROOT))

    with tempfile.TemporaryDirectory(prefix="ingest-data-") as folder:
        file = Path(folder) / "demonstrations.jsonl"
        size = write_demonstrations(file, rows=args.rows)
        parse_s = parse_only_seconds(file)
        print(
            f"{args.rows:,} demonstrations, {size / 1e6:.1f} MB JSONL; "
            f"one parse pass (validate, normalise, flag) in-process: {parse_s:.2f} s "
            f"({args.rows / parse_s:,.0f} rows/s)"
        )
        results = [
            bench_database(
                kind,
                code=code,
                tree=tree,
                file=file,
                rows=args.rows,
                postgres_url=args.postgres_url,
                raw_rates=tree == REPO_ROOT,
            )
            for kind in args.databases.split(",")
            for code, tree in trees
        ]
    print_table(results)
    ratios = {}
    for kind in args.databases.split(","):
        by_code = {result["code"]: result for result in results if result["database"] == kind}
        if args.baseline:
            old, new = by_code[args.baseline_label], by_code["current"]
            ratios[kind] = {
                "rows_per_s": new["rows_per_s"] / old["rows_per_s"],
                "upload_peak_rss": new["upload_peak_rss_mib"] / old["upload_peak_rss_mib"],
                "upload_anon_growth_mib_delta": new["upload_anon_growth_mib"] - old["upload_anon_growth_mib"],
            }
            print(
                f"{kind}: current / {args.baseline_label}: rows/s x{ratios[kind]['rows_per_s']:.2f}, "
                f"peak RSS x{ratios[kind]['upload_peak_rss']:.2f}"
            )
    for result in results:
        if "copy_rows_per_s" in result:
            print(
                f"{result['database']}, same rows inserted directly (no HTTP, no parsing), right after: "
                f"Core executemany {result['core_executemany_rows_per_s']:,.0f} rows/s, "
                f"COPY {result['copy_rows_per_s']:,.0f} rows/s"
            )
    report = {
        "bench": "ingest",
        "rows": args.rows,
        "file_bytes": size,
        "parse_pass_s": parse_s,
        "parse_rows_per_s": args.rows / parse_s,
        "results": results,
        "current_over_baseline": ratios,
        "baseline": str(args.baseline) if args.baseline else None,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_at_end": list(os.getloadavg()),
        },
        "method": "rows/s = rows / wall time of the upload request as the client sees it; memory "
        "sampled from /proc/<pid>/status every 10 ms during each request: VmRSS = RssAnon (heap) + "
        "RssFile (mapped files, including the memory-mapped upload: page cache, reclaimable) + "
        "RssShmem; store s = upload - preview (storing on top of receiving and parsing once); "
        "loadavg_before/after = os.getloadavg() around each run (a shared 2-core machine).",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"wrote {args.output.relative_to(REPO_ROOT) if args.output.is_relative_to(REPO_ROOT) else args.output}"
    )


if __name__ == "__main__":
    main()
