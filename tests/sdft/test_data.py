"""Reading demonstrations: JSONL, JSON arrays, CSV; errors name the line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.sdft.data import DataError, Example, examples_hash, read_examples


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_jsonl_with_string_and_chat_prompts(tmp_path: Path) -> None:
    rows = [
        {"prompt": "What is 2+2?", "demonstration": "4", "context": "arithmetic"},
        {
            "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "demonstration": "Hello",
        },
        {
            "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
            "reference": "A",
        },
    ]
    path = write(tmp_path, "demos.jsonl", "\n".join(json.dumps(row) for row in rows) + "\n\n")
    examples = read_examples(path)
    assert examples[0] == Example(
        prompt=[{"role": "user", "content": "What is 2+2?"}], demonstration="4", context="arithmetic", line=1
    )
    assert examples[1].prompt[0]["role"] == "system"
    assert (examples[2].prompt, examples[2].demonstration, examples[2].reference) == (
        [{"role": "user", "content": "Q"}],
        "A",
        "A",
    )


def test_json_array_and_csv(tmp_path: Path) -> None:
    array = write(tmp_path, "demos.json", json.dumps([{"prompt": "a", "demonstration": "b"}]))
    assert read_examples(array)[0].demonstration == "b"
    csv_path = write(
        tmp_path, "demos.csv", 'prompt,demonstration,context\n"multi\nline",answer,\nq2,a2,ctx\n'
    )
    first, second = read_examples(csv_path)
    assert first.prompt[0]["content"] == "multi\nline" and first.context is None
    assert (second.context, second.line) == ("ctx", 4)


@pytest.mark.parametrize(
    ("name", "text", "line", "field"),
    [
        ("bad.jsonl", '{"prompt": "a", "demonstration": "b"}\n{"prompt": "a"\n', 2, "row"),
        ("bad.jsonl", '{"prompt": "a", "demonstration": "b"}\n\n{"prompt": "a"}\n', 3, "demonstration"),
        ("bad.jsonl", '{"demonstration": "b"}\n', 1, "prompt"),
        (
            "bad.jsonl",
            '{"prompt": [{"role": "robot", "content": "x"}], "demonstration": "b"}\n',
            1,
            "prompt[0].role",
        ),
        (
            "bad.jsonl",
            '{"prompt": [{"role": "assistant", "content": "x"}], "demonstration": "b"}\n',
            1,
            "prompt",
        ),
        ("bad.jsonl", '{"prompt": "a", "demonstration": "  "}\n', 1, "demonstration"),
        ("bad.jsonl", '{"prompt": "a", "demonstration": "b", "context": 3}\n', 1, "context"),
        ("bad.json", '[{"prompt": "a", "demonstration": "b"}, 5]', 2, "row"),
        ("bad.csv", "question,answer\nq,a\n", 1, "header"),
    ],
)
def test_errors_name_the_line_and_field(tmp_path: Path, name: str, text: str, line: int, field: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(DataError) as error:
        read_examples(path)
    assert (error.value.line, error.value.field) == (line, field)
    assert str(path) in str(error.value)


def test_missing_empty_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_examples(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="holds no rows"):
        read_examples(write(tmp_path, "empty.jsonl", "\n"))
    with pytest.raises(DataError, match="unknown file type"):
        read_examples(write(tmp_path, "demos.txt", "x"))


def test_hash_changes_with_content() -> None:
    a = [Example(prompt=[{"role": "user", "content": "q"}], demonstration="a")]
    b = [Example(prompt=[{"role": "user", "content": "q"}], demonstration="b")]
    assert examples_hash(a) == examples_hash(list(a)) != examples_hash(b)
