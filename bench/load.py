"""50 clients uploading and listing at once for 60 s against uvicorn + PostgreSQL; then the API's
memory while one 50 MB upload streams in.

    .venv/bin/python bench/load.py                          # 50 clients, 60 s
    .venv/bin/python bench/load.py --clients 20 --seconds 10 --upload-rows 20000

The server is the one `make run` starts (one uvicorn process) on a migrated schema of its own in
--postgres-url (dropped afterwards), reached over loopback. Each client loops: one request in five
uploads a small new dataset version (40 rows, its own content) to one of a few shared skills, the
others list skills, a skill's versions, or a page of a version's rows. Every answer must be a 2xx
(an identical upload's 200 included); any other status or a broken connection is an error. Prints
a table (requests, errors, p50/p99 per kind) and writes bench/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.ingest import (  # noqa: E402 - the ingest bench's server, database and memory helpers
    DEFAULT_POSTGRES_URL,
    RssSampler,
    admin_headers,
    api_server,
    database,
    memory_kib,
    post_file,
    write_demonstrations,
)

RESULTS = Path(__file__).resolve().parent / "results" / "load.json"
SKILLS = 5
ROWS_PER_UPLOAD = 40
UPLOAD_SHARE = 0.2


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def small_dataset(client_id: int, n: int) -> bytes:
    rows = (
        {
            "prompt": f"client {client_id} upload {n} question {i}?",
            "response": f"answer {i} from {client_id}/{n}",
        }
        for i in range(ROWS_PER_UPLOAD)
    )
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


async def run_client(
    client_id: int,
    client: httpx.AsyncClient,
    skill_ids: list[int],
    deadline: float,
    samples: dict[str, list[float]],
    errors: list[str],
) -> None:
    rng = random.Random(client_id)
    version_ids: list[int] = []
    n = 0
    while time.monotonic() < deadline:
        skill_id = rng.choice(skill_ids)
        roll = rng.random()
        if roll < UPLOAD_SHARE:
            kind, request = (
                "upload",
                client.build_request(
                    "POST",
                    f"/api/skills/{skill_id}/datasets",
                    files={"file": (f"c{client_id}-{n}.jsonl", small_dataset(client_id, n))},
                ),
            )
            n += 1
        elif roll < 0.45:
            kind, request = "list skills", client.build_request("GET", "/api/skills")
        elif roll < 0.7 or not version_ids:
            kind, request = "list versions", client.build_request("GET", f"/api/skills/{skill_id}/datasets")
        else:
            version_id = rng.choice(version_ids)
            kind, request = (
                "page rows",
                client.build_request("GET", f"/api/datasets/{version_id}/examples", params={"limit": 20}),
            )
        started = time.perf_counter()
        try:
            response = await client.send(request)
        except httpx.TransportError as exc:
            errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            continue
        samples.setdefault(kind, []).append(time.perf_counter() - started)
        if not 200 <= response.status_code < 300:
            errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
        elif kind == "upload":
            version_ids.append(int(response.json()["id"]))


async def load_phase(base: str, headers: dict[str, str], *, clients: int, seconds: float) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as client:
        skill_ids = []
        for index in range(SKILLS):
            created = await client.post("/api/skills", json={"name": f"load-{index}"})
            created.raise_for_status()
            skill_ids.append(int(created.json()["id"]))
        samples: dict[str, list[float]] = {}
        errors: list[str] = []
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(
            *(run_client(i, client, skill_ids, deadline, samples, errors) for i in range(clients))
        )
        elapsed = time.monotonic() - started
    all_samples = [value for values in samples.values() for value in values]
    by_kind = {
        kind: {
            "requests": len(values),
            "p50_ms": round(percentile(values, 0.5) * 1000, 1),
            "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        }
        for kind, values in sorted(samples.items())
    }
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(all_samples),
        "requests_per_s": round(len(all_samples) / elapsed, 1),
        "errors": len(errors),
        "first_errors": errors[:10],
        "p50_ms": round(percentile(all_samples, 0.5) * 1000, 1),
        "p99_ms": round(percentile(all_samples, 0.99) * 1000, 1),
        "by_kind": by_kind,
    }


def memory_phase(base: str, headers: dict[str, str], pid: int, file: Path) -> dict[str, Any]:
    """Resident memory of the API before and at its peak while `file` streams in and is stored."""
    with httpx.Client(base_url=base, headers=headers, timeout=900) as client:
        skill = client.post("/api/skills", json={"name": "big upload"})
        skill.raise_for_status()
        idle = memory_kib(pid)
        sampler = RssSampler(pid)
        with sampler.sampling():
            response, seconds = post_file(client, f"/api/skills/{skill.json()['id']}/datasets", file)
        if response.status_code != 201:
            raise RuntimeError(f"the big upload answered {response.status_code}: {response.text[:300]}")
    return {
        "file_mb": round(file.stat().st_size / 1e6, 1),
        "upload_s": round(seconds, 1),
        "rss_idle_mib": round(idle["VmRSS"] / 1024, 1),
        "rss_peak_mib": round(sampler.peak_kib["VmRSS"] / 1024, 1),
        "heap_idle_mib": round(idle["RssAnon"] / 1024, 1),
        "heap_peak_mib": round(sampler.peak_kib["RssAnon"] / 1024, 1),
        "heap_growth_mib": round((sampler.peak_kib["RssAnon"] - idle["RssAnon"]) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--upload-rows", type=int, default=100_000, help="rows of the big upload (~500 B each)"
    )
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_average = [round(value, 1) for value in os.getloadavg()]

    with (
        tempfile.TemporaryDirectory(prefix="load-") as folder,
        database("postgresql", args.postgres_url, Path(folder)) as url,
        api_server(url, Path(folder)) as (base, pid),
    ):
        headers = admin_headers(base, Path(folder))
        load = asyncio.run(load_phase(base, headers, clients=args.clients, seconds=args.seconds))
        big = Path(folder) / "big.jsonl"
        write_demonstrations(big, rows=args.upload_rows, seed=1)
        memory = memory_phase(base, headers, pid, big)

    print(
        f"{load['clients']} clients for {load['seconds']} s against uvicorn + PostgreSQL (loopback); "
        f"load average before: {load_average}"
    )
    print(f"{'kind':<14} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, row in load["by_kind"].items():
        print(f"{kind:<14} {row['requests']:>9} {row['p50_ms']:>8} {row['p99_ms']:>8}")
    print(f"{'all':<14} {load['requests']:>9} {load['p50_ms']:>8} {load['p99_ms']:>8}")
    print(f"{load['requests_per_s']} requests/s, {load['errors']} errors")
    for error in load["first_errors"]:
        print(f"  error: {error}")
    print(
        f"{memory['file_mb']} MB upload in {memory['upload_s']} s: API resident {memory['rss_idle_mib']} -> "
        f"peak {memory['rss_peak_mib']} MiB; heap {memory['heap_idle_mib']} -> {memory['heap_peak_mib']} MiB "
        f"(+{memory['heap_growth_mib']} MiB)"
    )
    report = {
        "bench": "load",
        # Latencies on a shared 2-core machine depend on what else runs: the load average says how busy it was.
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": load_average,
        },
        "load": load,
        "big_upload_memory": memory,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    if load["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
