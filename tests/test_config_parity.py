"""The API's job config (validated at submission, no torch) and the frontend's templates agree with the engine."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from backend.jobs.schemas import JobConfig
from worker.sdft.config import (
    AUTO_GENERAL_MIX,
    AUTO_LARGE_MODEL_PARAMETERS,
    AUTO_LR,
    AUTO_LR_SMALL_MODEL,
    DEFAULT_TEACHER_TEMPLATE,
    PAPER_TEACHER_TEMPLATE,
    ConfigError,
    TrainConfig,
    skip_for_template,
)

# Engine settings deliberately not exposed per job through the API.
ENGINE_ONLY = {"method", "teacher_template", "extra"}


def test_every_api_option_is_an_engine_option() -> None:
    engine = {field.name for field in dataclasses.fields(TrainConfig)}
    assert set(JobConfig.model_fields) <= engine, set(JobConfig.model_fields) - engine


def test_api_defaults_defer_to_the_engine() -> None:
    assert all(field.default is None for field in JobConfig.model_fields.values())


def test_what_the_api_accepts_the_engine_accepts() -> None:
    accepted = JobConfig(steps=3, lr=1e-5, teacher="frozen", divergence="jsd", beta=0.3, n_rollouts=2)
    config = TrainConfig.from_dict(accepted.engine_overrides())
    assert (config.steps, config.teacher, config.divergence, config.beta) == (3, "frozen", "jsd", 0.3)


def test_engine_refuses_what_it_does_not_know_naming_the_field() -> None:
    try:
        TrainConfig.from_dict({"no_such_option": 1})
    except ConfigError as error:
        assert error.field == "no_such_option"
    else:
        raise AssertionError("unknown option accepted")


def test_the_skill_forms_templates_are_the_engines() -> None:
    """The skill form shows the default and offers the paper's wording; both must be the engine's text."""
    source = (Path(__file__).resolve().parents[1] / "frontend/src/routes/skills/SkillForm.tsx").read_text()
    shown = dict(re.findall(r"export const (\w+_TEMPLATE) = `([^`]*)`;", source))
    assert shown == {"PAPER_TEMPLATE": PAPER_TEACHER_TEMPLATE, "FORMAT_TEMPLATE": DEFAULT_TEACHER_TEMPLATE}


def test_the_frontends_default_skipped_tokens_are_the_engines() -> None:
    """Job pages and the queue form show defaultSkipTokens where a job set none; it must be skip_for_template."""
    source = (Path(__file__).resolve().parents[1] / "frontend/src/routes/skills/SkillForm.tsx").read_text()
    rule = re.search(r"return template === PAPER_TEMPLATE \? (\d+) : (\d+);", source)
    assert rule is not None, "defaultSkipTokens changed shape; update this test with it"
    assert (int(rule[1]), int(rule[2])) == (
        skip_for_template(PAPER_TEACHER_TEMPLATE),
        skip_for_template(DEFAULT_TEACHER_TEMPLATE),
    )


def test_the_queue_forms_default_learning_rates_are_the_engines() -> None:
    """The queue form shows the rates an empty "Learning rate" trains at, by method and model size: they
    must be AUTO_LR's and AUTO_LR_SMALL_MODEL's, and its size threshold the engine's."""
    source = (Path(__file__).resolve().parents[1] / "frontend/src/routes/tracks/QueueJobForm.tsx").read_text()
    rule = re.search(r'if \(field.key === "lr"\) return method === "sft" \? "auto" : "([^"]+)";', source)
    assert rule is not None, "the queue form's lr placeholder changed shape; update this test with it"
    assert float(rule[1]) == AUTO_LR["sdft"] == AUTO_LR_SMALL_MODEL["sdft"]
    hint = re.search(
        r"empty: (\S+) for SDFT \(the paper's\); SFT (\S+) from ([\d.]+)B parameters, else (\S+)\"", source
    )
    assert hint is not None, "the queue form's lr hint changed shape; update this test with it"
    assert (float(hint[1]), float(hint[2]), float(hint[4])) == (
        AUTO_LR["sdft"],
        AUTO_LR["sft"],
        AUTO_LR_SMALL_MODEL["sft"],
    )
    # general_mix's hint names the same threshold.
    assert round(float(hint[3]) * 1e9) == AUTO_LARGE_MODEL_PARAMETERS
    assert f"empty: {AUTO_GENERAL_MIX} from {hint[3]}B parameters, else 0" in source
