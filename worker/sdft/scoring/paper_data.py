"""The SDFT paper's evaluation data as (prompt, demonstration, reference) examples.

The files live outside the package (../shared/data/sdft-paper/ in this project, see its
README.md), so every loader takes the path. Each example is a dict:

    {"prompt": [{"role": ..., "content": ...}, ...],   # chat messages the student sees
     "demonstration": "...",                           # what the teacher sees in context
     "reference": "..."}                               # what the task's scorer compares with

and `PAPER_TASK_SCORERS` names the scorer (with its configuration) each task is graded by.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypedDict

__all__ = [
    "PAPER_TASK_SCORERS",
    "ChatMessage",
    "EvalExample",
    "load_paper_task",
    "load_science",
    "load_tool_use",
    "science_demonstration",
    "tool_use_demonstration",
]


class ChatMessage(TypedDict):
    role: str
    content: str


class EvalExample(TypedDict):
    prompt: list[ChatMessage]
    demonstration: str
    reference: str


PaperTask = Literal["tooluse", "science"]

# Scorer name and configuration per task, as `get_scorer(name, **config)` takes them.
PAPER_TASK_SCORERS: dict[str, tuple[str, dict[str, Any]]] = {
    "tooluse": ("tool_calls", {"parser": "paper"}),
    "science": ("choice", {}),
}


def tool_use_demonstration(golden_answer: Sequence[dict[str, Any]]) -> str:
    """The golden calls written the way the prompt asks for them, one pair per call:

    Action: searchAxolotlImages
    Action Input: {"color": "wild", "size": "medium"}
    """
    lines = []
    for call in golden_answer:
        arguments = call["Action_Input"]
        # The data stores inputs as JSON text already: keep it verbatim rather than re-serialise.
        arguments_text = (
            arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        )
        lines.append(f"Action: {call['Action']}\nAction Input: {arguments_text}")
    return "\n".join(lines)


def science_demonstration(answer: str, *, tagged: bool = False) -> str:
    """The paper's science demonstration, "The correct answer is B."

    That sentence is not in the graded format (no `<answer>` tags): the teacher reads it and
    answers in its own words. tagged=True also wraps the letter in the prompt's
    <reasoning>/<answer> format, for methods that imitate the demonstration verbatim (SFT);
    trained on the bare sentence they learn to drop the tags and score zero.
    """
    sentence = f"The correct answer is {answer}."
    if not tagged:
        return sentence
    return f"<reasoning>\n{sentence}\n</reasoning>\n<answer>\n{answer}\n</answer>"


def _read_rows(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{line_number}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{line_number}: expected a JSON object")
            for field in required:
                if field not in row:
                    raise ValueError(f"{path}:{line_number}: missing field {field!r}")
            rows.append((line_number, row))
    return rows


def load_tool_use(path: str | Path) -> list[EvalExample]:
    """tooluse.jsonl: the prompt (one string) becomes the user turn, as in the paper's evaluation;
    the reference is the golden answer as JSON (scored by `tool_calls`)."""
    path = Path(path)
    examples: list[EvalExample] = []
    for line_number, row in _read_rows(path, ("prompt", "golden_answer")):
        golden = row["golden_answer"]
        if not isinstance(row["prompt"], str):
            raise ValueError(f"{path}:{line_number}: field 'prompt' must be a string")
        if not isinstance(golden, list) or not all(
            isinstance(call, dict) and "Action" in call and "Action_Input" in call for call in golden
        ):
            raise ValueError(
                f"{path}:{line_number}: field 'golden_answer' must be a list of {{Action, Action_Input}}"
            )
        examples.append(
            {
                "prompt": [{"role": "user", "content": row["prompt"]}],
                "demonstration": tool_use_demonstration(golden),
                "reference": json.dumps(golden, ensure_ascii=False),
            }
        )
    return examples


def load_science(path: str | Path, *, tagged_demonstration: bool = False) -> list[EvalExample]:
    """science.jsonl: chat messages (system format rules + user question), answer letter as reference."""
    path = Path(path)
    examples: list[EvalExample] = []
    for line_number, row in _read_rows(path, ("prompt", "answer")):
        messages = row["prompt"]
        if not isinstance(messages, list) or not all(
            isinstance(message, dict) and isinstance(message.get("content"), str) and "role" in message
            for message in messages
        ):
            raise ValueError(
                f"{path}:{line_number}: field 'prompt' must be a list of {{role, content}} messages"
            )
        answer = row["answer"]
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError(f"{path}:{line_number}: field 'answer' must be an option letter")
        examples.append(
            {
                "prompt": [{"role": message["role"], "content": message["content"]} for message in messages],
                "demonstration": science_demonstration(answer, tagged=tagged_demonstration),
                "reference": answer,
            }
        )
    return examples


def load_paper_task(data_dir: str | Path, task: PaperTask) -> list[EvalExample]:
    """Load `task` ("tooluse" or "science") from the folder holding the paper's JSONL files."""
    if task == "tooluse":
        return load_tool_use(Path(data_dir) / "tooluse.jsonl")
    if task == "science":
        return load_science(Path(data_dir) / "science.jsonl")
    raise ValueError(f"unknown paper task {task!r}; choose 'tooluse' or 'science'")
