"""Derive the dataset fixture files in this folder from the SDFT paper's evaluation data.

The source files (tooluse.jsonl, science.jsonl; see their README) are not in the repository, so
the few rows the tests need are derived once and committed; `test_datasets_parsing` re-derives
them and compares whenever the source folder is present.

    .venv/bin/python tests/backend/data/make_fixtures.py [/work/shared/data/sdft-paper]
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = Path("/work/shared/data/sdft-paper")
N_ROWS = 6
N_EVAL = 2  # the last rows of each fixture are the eval split


def tooluse_demonstration(golden_answer: list[dict[str, str]]) -> str:
    """The paper's demonstration for a tool-use row: one Action / Action Input pair per call."""
    return "\n".join(
        f"Action: {call['Action']}\nAction Input: {call['Action_Input']}" for call in golden_answer
    )


def tooluse_rows(source: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (source / "tooluse.jsonl").read_text().splitlines()[:N_ROWS]]
    return [
        {
            "prompt": row["prompt"],
            "response": tooluse_demonstration(row["golden_answer"]),
            "reference": row["golden_answer"],
            "split": "eval" if index >= N_ROWS - N_EVAL else "train",
        }
        for index, row in enumerate(rows)
    ]


def science_rows(source: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (source / "science.jsonl").read_text().splitlines()[:N_ROWS]]
    return [
        {
            "messages": [
                *row["prompt"],
                {"role": "assistant", "content": f"The correct answer is {row['answer']}."},
            ],
            "reference": row["answer"],
            "split": "eval" if index >= N_ROWS - N_EVAL else "train",
        }
        for index, row in enumerate(rows)
    ]


def fixture_files(source: Path) -> dict[str, bytes]:
    """File name -> content: the same tool-use rows as JSONL, a pretty JSON array and CSV."""
    tooluse = tooluse_rows(source)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # CRLF, as spreadsheets write it
    writer.writerow(["prompt", "response", "reference", "split"])
    for row in tooluse:
        # A non-string reference is stored as its sorted-key orjson text; CSV carries that text.
        reference = orjson.dumps(row["reference"], option=orjson.OPT_SORT_KEYS).decode()
        writer.writerow([row["prompt"], row["response"], reference, row["split"]])
    return {
        "tooluse.jsonl": b"".join(json.dumps(row).encode() + b"\n" for row in tooluse),
        "tooluse.json": json.dumps(tooluse, indent=2).encode() + b"\n",
        "tooluse.csv": buffer.getvalue().encode(),
        "science.jsonl": b"".join(json.dumps(row).encode() + b"\n" for row in science_rows(source)),
    }


if __name__ == "__main__":
    source_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    for name, content in fixture_files(source_dir).items():
        (HERE / name).write_bytes(content)
        print(f"wrote {HERE / name} ({len(content)} bytes)")
