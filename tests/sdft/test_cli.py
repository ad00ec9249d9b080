"""The `apprentice` CLI on the tiny model: JSON per step, a verified checkpoint, one-line errors that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.cli import _train_config, build_parser, main
from worker.sdft.checkpoints import verify_checkpoint
from worker.sdft.config import DEFAULT_TEACHER_TEMPLATE, PAPER_TEACHER_TEMPLATE, TrainConfig


@pytest.fixture()
def demos(tmp_path: Path) -> Path:
    path = tmp_path / "demos.jsonl"
    rows = [
        {"prompt": f"What is {i} plus {i}?", "demonstration": f"The answer is {2 * i}."} for i in range(3)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_train_prints_json_per_step_and_writes_a_checkpoint(
    demos: Path, tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "skill"
    common = ["--model", "tiny", "--models-dir", str(models_dir), "--demos", str(demos)]
    code, lines, err = run(
        capsys, "train", *common, "--out", str(out), "--steps", "2", "--batch-size", "2", "--max-new-tokens", "6",
        "--teacher", "ema", "--divergence", "jsd", "--beta", "0.5", "--lr", "1e-4",
        "--trace-every", "1", "--traces", str(tmp_path / "traces.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    events = [json.loads(line) for line in lines]
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2]
    assert {"loss", "divergence", "teacher_logprob", "rollout_s", "lr"} <= set(events[0])
    assert events[-1] == {"event": "checkpoint", "path": str(out), "steps": 2}
    manifest = verify_checkpoint(out)
    assert manifest["config"]["divergence"] == "jsd" and manifest["config"]["lr"] == 1e-4
    assert manifest["method"] == "sdft" and manifest["data_hash"] and manifest["parent"] is None
    traces = [json.loads(line) for line in (tmp_path / "traces.jsonl").read_text().splitlines()]
    assert traces and traces[0]["tokens"]

    # The checkpoint is a model: generate from it, and train SFT on top of it.
    code, lines, err = run(
        capsys, "generate", "--model", str(out), "--models-dir", str(models_dir), "--prompt", "Hi", "--prompt", "Yo",
        "--max-new-tokens", "3", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert [json.loads(line)["prompt"] for line in lines] == ["Hi", "Yo"]
    child = tmp_path / "child"
    code, lines, err = run(
        capsys, "train", "--model", str(out), "--models-dir", str(models_dir), "--demos", str(demos),
        "--method", "sft", "--epochs", "1", "--batch-size", "3", "--out", str(child),
    )  # fmt: skip
    assert code == 0, err
    assert verify_checkpoint(child)["parent"] == str(out.resolve())


@pytest.mark.parametrize(
    ("template", "wording"),
    [
        ((), "Answer in exactly the same format"),
        (("--template", "paper"), "This is an example for a response"),
    ],
)
def test_logprobs_prints_each_token_with_top_alternatives(
    models_dir: Path, capsys: pytest.CaptureFixture[str], template: tuple[str, ...], wording: str
) -> None:
    code, lines, err = run(
        capsys, "logprobs", "--model", "tiny", "--models-dir", str(models_dir), "--prompt", "What is 2 plus 2?",
        "--completion", "The answer is 4.", "--demonstration", "4", *template,
    )  # fmt: skip
    assert code == 0, err
    (payload,) = [json.loads(line) for line in lines]
    assert wording in payload["teacher_prompt"]
    assert wording not in payload["prompt"]
    tokens = payload["tokens"]
    assert "".join(t["token"] for t in tokens) == "The answer is 4."
    assert all(len(t["student_top"]) == 5 and len(t["teacher_top"]) == 5 for t in tokens)
    assert all(t["student_logprob"] <= 0 and t["divergence"] >= 0 for t in tokens)


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (None, [], "does not exist"),
        ('{"prompt": "q", "demonstration": "a"}\n{"prompt": "q"}\n', [], "line 2: demonstration: is missing"),
        ('{"prompt": "q", "demonstration": "a"}\n', ["--model", "no-such-model"], "unknown model"),
        ('{"prompt": "q", "demonstration": "' + "long " * 2500 + '"}\n', [], "line 1: demonstration:"),
        ('{"prompt": "q", "demonstration": "a"}\n', ["--lr", "-1"], "lr: must be > 0"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_and_writes_nothing(
    tmp_path: Path,
    models_dir: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    extra: list[str],
    message: str,
) -> None:
    demos = tmp_path / "demos.jsonl"
    if content is not None:
        demos.write_text(content)
    before = sorted(tmp_path.iterdir())
    code, lines, err = run(
        capsys, "train", "--model", "tiny", "--models-dir", str(models_dir), "--demos", str(demos),
        "--out", str(tmp_path / "out"), "--steps", "1", *extra,
    )  # fmt: skip
    assert code == 2
    assert lines == []
    assert len(err.strip().splitlines()) == 1 and message in err
    assert sorted(tmp_path.iterdir()) == before


def test_an_existing_output_folder_is_never_overwritten(
    demos: Path, tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    code, _, err = run(
        capsys,
        "train",
        "--model",
        "tiny",
        "--models-dir",
        str(models_dir),
        "--demos",
        str(demos),
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 2 and "already exists" in err


def test_train_on_two_processes_prints_every_step_once_and_writes_one_checkpoint(
    demos: Path, tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Sharded, the flag the CLI adds over the replicated launch (tests/sdft covers both launches).
    out = tmp_path / "skill"
    code, lines, err = run(
        capsys, "train", "--model", "tiny", "--models-dir", str(models_dir), "--demos", str(demos),
        "--out", str(out), "--steps", "2", "--batch-size", "2", "--max-new-tokens", "6", "--num-gpus", "2",
        "--device", "cpu", "--shard-weights",
    )  # fmt: skip
    assert code == 0, err
    assert verify_checkpoint(out)["config"]["shard_weights"] is True
    events = [json.loads(line) for line in lines]
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2]
    assert events[-1] == {"event": "checkpoint", "path": str(out), "steps": 2}
    manifest = verify_checkpoint(out)
    assert (manifest["num_gpus"], manifest["method"], manifest["parent"]) == (2, "sdft", None)


def test_train_takes_the_papers_settings_and_flags_override_them() -> None:
    def config(*flags: str) -> TrainConfig:
        return _train_config(
            build_parser().parse_args(
                ["train", "--model", "tiny", "--demos", "d.jsonl", "--out", "o", *flags]
            )
        )

    assert (config().teacher_template, config().skip_first_tokens) == (DEFAULT_TEACHER_TEMPLATE, 0)
    assert (config("--paper").teacher_template, config("--paper").skip_first_tokens) == (
        PAPER_TEACHER_TEMPLATE,
        3,
    )
    custom = "{prompt} -> {demonstration}"
    mixed = config("--paper", "--skip-first-tokens", "1", "--template", custom)
    assert (mixed.teacher_template, mixed.skip_first_tokens) == (custom, 1)
    assert config("--template", "paper").teacher_template == PAPER_TEACHER_TEMPLATE
    assert config("--template", "paper").skip_first_tokens == 3  # the template's own default
