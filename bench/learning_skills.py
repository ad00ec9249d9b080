"""The learning benchmark's skills: the paper's tool use and science tasks, and the ISO-dates skill of our own.

Every skill is split once with a fixed seed into `train` and `eval`; `eval` is never used to choose
anything. Tuning trains on `fit` (train minus its last `holdout` rows) and scores on `holdout`.

Science demonstrations (the choice is per method, see Method.science_tagged): the paper's teacher
reads "The correct answer is B." and answers in its own words, so SDFT keeps that sentence; SFT
imitates its target verbatim, and trained on that sentence it learns to drop the `<answer>` tags the
scorer needs, so SFT gets the same sentence wrapped in the prompt's own reasoning/answer format.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.sdft.data import Example
from worker.sdft.scoring import Scorer, get_scorer
from worker.sdft.scoring.paper_data import PAPER_TASK_SCORERS, load_science, load_tool_use

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_DATA = REPO_ROOT.parent / "shared" / "data" / "sdft-paper"
DATES_FILE = REPO_ROOT / "bench" / "skills" / "iso_dates.jsonl"
SPLIT_SEED = 1234
SKILL_NAMES = ("tooluse", "science", "dates")


@dataclass(frozen=True)
class Split:
    train: list[int]  # row indices into the skill's rows
    eval: list[int]


@dataclass
class Skill:
    """One skill: its rows (two demonstration variants for science), split, scorer and output budget."""

    name: str
    rows: list[dict[str, str]]  # prompt messages as JSON text, demonstration, reference
    tagged_rows: list[dict[str, str]] | None  # science only: demonstrations in the graded format
    split: Split
    scorer_name: str
    scorer_config: dict[str, Any]
    eval_max_new_tokens: int
    train_max_new_tokens: int  # rollout length in training, unless the invocation sets one for all
    description: str
    holdout: int  # last train rows kept out of `fit` for tuning
    notes: list[str] = field(default_factory=list)

    def scorer(self) -> Scorer:
        return get_scorer(self.scorer_name, **self.scorer_config)

    def _examples(self, indices: list[int], *, tagged: bool) -> list[Example]:
        rows = self.tagged_rows if tagged and self.tagged_rows is not None else self.rows
        return [
            Example(
                prompt=json.loads(rows[i]["prompt"]),
                demonstration=rows[i]["demonstration"],
                reference=rows[i]["reference"],
                line=i + 1,
            )
            for i in indices
        ]

    def train_examples(self, *, tagged: bool = False, limit: int | None = None) -> list[Example]:
        return self._examples(self.split.train[:limit], tagged=tagged)

    def fit_examples(self, *, tagged: bool = False, limit: int | None = None) -> list[Example]:
        fit = self.split.train[: len(self.split.train) - self.holdout]
        return self._examples(fit[:limit], tagged=tagged)

    def holdout_examples(self, *, limit: int | None = None) -> list[Example]:
        return self._examples(self.split.train[len(self.split.train) - self.holdout :][:limit], tagged=False)

    def eval_examples(self, *, limit: int | None = None) -> list[Example]:
        return self._examples(self.split.eval[:limit], tagged=False)


def split_rows(count: int, *, train: int, seed: int = SPLIT_SEED) -> Split:
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return Split(train=order[:train], eval=order[train:])


def _as_rows(examples: list[Any]) -> list[dict[str, str]]:
    return [
        {
            "prompt": json.dumps(row["prompt"]),
            "demonstration": row["demonstration"],
            "reference": row["reference"],
        }
        for row in examples
    ]


def load_skill(name: str) -> Skill:
    """The skill `name` (tooluse, science, dates) with its fixed split."""
    if name == "tooluse":
        rows = _as_rows(load_tool_use(PAPER_DATA / "tooluse.jsonl"))
        scorer_name, scorer_config = PAPER_TASK_SCORERS["tooluse"]
        return Skill(
            name=name,
            rows=rows,
            tagged_rows=None,
            split=split_rows(len(rows), train=70),
            scorer_name=scorer_name,
            scorer_config=scorer_config,
            eval_max_new_tokens=96,
            train_max_new_tokens=64,  # the demonstrated calls are ~48 tokens (Qwen2.5's tokenizer)
            description="ToolAlpaca tool use (the paper's task): Action/Action Input calls, paper's parser",
            holdout=14,
        )
    if name == "science":
        rows = _as_rows(load_science(PAPER_DATA / "science.jsonl"))
        tagged = _as_rows(load_science(PAPER_DATA / "science.jsonl", tagged_demonstration=True))
        scorer_name, scorer_config = PAPER_TASK_SCORERS["science"]
        return Skill(
            name=name,
            rows=rows,
            tagged_rows=tagged,
            split=split_rows(len(rows), train=400),
            scorer_name=scorer_name,
            scorer_config=scorer_config,
            eval_max_new_tokens=96,
            train_max_new_tokens=64,
            description="SciKnowEval chemistry L3 multiple choice (the paper's task): letter in <answer> tags",
            holdout=50,
        )
    if name == "dates":
        rows = []
        for line in DATES_FILE.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows.append(
                {
                    "prompt": json.dumps([{"role": "user", "content": row["prompt"]}]),
                    "demonstration": row["demonstration"],
                    "reference": row["reference"],
                }
            )
        from bench.skills.iso_dates import SCORER

        return Skill(
            name=name,
            rows=rows,
            tagged_rows=None,
            split=split_rows(len(rows), train=150),
            scorer_name=SCORER[0],
            scorer_config=dict(SCORER[1]),
            eval_max_new_tokens=24,
            train_max_new_tokens=32,  # one line
            description="ISO dates (our own): the date a note mentions as `Date: YYYY-MM-DD`, format never stated",
            holdout=30,
        )
    raise ValueError(f"unknown skill {name!r}; choose from {', '.join(SKILL_NAMES)}")
