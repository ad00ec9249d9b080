"""The training loop on the tiny model: it learns, the EMA teacher moves by its rate, runs resume exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.sdft.test_memory import held_bytes
from worker.sdft.batching import completion_hidden, output_head, pack
from worker.sdft.config import ConfigError, TrainConfig
from worker.sdft.data import DataError, Example
from worker.sdft.divergence import completion_token_stats
from worker.sdft.monitors import MonitorStop
from worker.sdft.prompts import build_prompt_pair, demonstration_ids
from worker.sdft.rollout import TransformersRolloutEngine
from worker.sdft.sink import ListSink
from worker.sdft.teacher import Teachers, frozen_copy
from worker.sdft.train import NONFINITE_STOP_AFTER, lr_at, prepare_model, train

EXAMPLES = [
    Example(
        prompt=[{"role": "user", "content": f"What is {i} plus {i}?"}],
        demonstration=f"The answer is {2 * i}.",
    )
    for i in range(6)
]
FAST = {"batch_size": 3, "max_new_tokens": 10, "lr": 1e-2, "warmup_ratio": 0.0, "loss_chunk_size": 16}


def fixed_batch_divergence(loaded, teacher_model, pairs, completions) -> float:
    """Mean per-token forward KL of student vs teacher on a fixed set of completions."""
    student_batch = pack(
        [p.student_ids for p in pairs], completions, pad_token_id=loaded.pad_token_id, skip_first=3
    )
    teacher_batch = pack(
        [p.teacher_ids for p in pairs], completions, pad_token_id=loaded.pad_token_id, skip_first=3
    )
    with torch.no_grad():
        stats = completion_token_stats(
            completion_hidden(loaded.model, student_batch),
            completion_hidden(teacher_model, teacher_batch),
            student_batch.target_ids,
            student_head=output_head(loaded.model),
            teacher_head=output_head(teacher_model),
        )
    return float(stats.divergence.mean())


def test_sdft_steps_reduce_the_divergence_on_a_fixed_batch(tiny, tmp_path: Path) -> None:
    config = TrainConfig(steps=6, teacher="frozen", **FAST)
    pairs = [
        build_prompt_pair(tiny.tokenizer, example, template=config.teacher_template) for example in EXAMPLES
    ]
    torch.manual_seed(0)
    completions = [
        c.token_ids
        for c in TransformersRolloutEngine().generate(
            tiny.model,
            [p.student_ids for p in pairs],
            eos_token_ids=tiny.eos_token_ids,
            pad_token_id=tiny.pad_token_id,
            max_new_tokens=10,
        )
    ]
    start_model = frozen_copy(tiny.model)  # the frozen teacher is the starting model
    before = fixed_batch_divergence(tiny, start_model, pairs, completions)
    sink = ListSink()
    result = train(loaded=tiny, examples=EXAMPLES, config=config, sink=sink, work_dir=tmp_path)
    after = fixed_batch_divergence(tiny, start_model, pairs, completions)
    assert (result.steps_done, result.stopped) == (6, False)
    assert after < 0.8 * before, (before, after)
    first, last = sink.steps[0][1], sink.steps[-1][1]
    assert last["divergence"] < first["divergence"]
    for key in (
        "loss", "divergence", "teacher_logprob", "student_logprob", "completion_tokens", "eos_fraction", "tokens_per_s",
        "rollout_s", "teacher_s", "student_s", "lr", "grad_norm", "entropy",
    ):  # fmt: skip
        assert isinstance(first[key], float), key
    assert first["completion_tokens"] <= 10 and 0.0 <= first["eos_fraction"] <= 1.0


def test_sft_reduces_the_demonstration_nll(tiny, tmp_path: Path) -> None:
    config = TrainConfig(method="sft", steps=6, **FAST)

    def nll() -> float:
        pairs = [build_prompt_pair(tiny.tokenizer, e, template=config.teacher_template) for e in EXAMPLES]
        targets = [
            demonstration_ids(tiny.tokenizer, e.demonstration, eos_token_id=tiny.eos_token_id)
            for e in EXAMPLES
        ]
        batch = pack([p.student_ids for p in pairs], targets, pad_token_id=tiny.pad_token_id)
        with torch.no_grad():
            logits = output_head(tiny.model)(completion_hidden(tiny.model, batch))
        return float(torch.nn.functional.cross_entropy(logits, batch.target_ids))

    before = nll()
    sink = ListSink()
    train(loaded=tiny, examples=EXAMPLES, config=config, sink=sink, work_dir=tmp_path)
    assert nll() < 0.7 * before
    assert sink.metric("nll")[-1] < sink.metric("nll")[0]
    assert "divergence" not in sink.steps[0][1]  # SFT has no teacher


class NaNGradientAt:
    """Makes one parameter's gradient NaN at the given steps (its hook fires once a step: no accumulation)."""

    def __init__(self, parameter: torch.nn.Parameter, steps: set[int]) -> None:
        self.calls, self.steps = 0, steps
        parameter.register_hook(self)

    def __call__(self, grad: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return grad * float("nan") if self.calls in self.steps else grad


@dataclass
class WeightsSink(ListSink):
    """Also keeps the student's weights after every step."""

    model: Any = None
    students: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def on_step(self, step: int, metrics: dict[str, float]) -> None:
        super().on_step(step, metrics)
        self.students.append({n: p.detach().clone() for n, p in self.model.named_parameters()})


def test_a_non_finite_gradient_is_not_applied(tiny, tmp_path: Path) -> None:
    config = TrainConfig(method="sft", steps=3, **FAST)
    NaNGradientAt(tiny.model.get_input_embeddings().weight, steps={2})
    sink = WeightsSink(model=tiny.model)
    result = train(loaded=tiny, examples=EXAMPLES, config=config, sink=sink, work_dir=tmp_path)
    assert result.skipped_steps == 1 and result.steps_done == 3
    assert sink.metric("update_skipped") == [0.0, 1.0, 0.0]
    assert [(step, warning["monitor"]) for step, warning in sink.warnings] == [(2, "non-finite")]
    assert "step 2: loss" in sink.warnings[0][1]["message"]
    after_1, after_2, after_3 = sink.students
    assert all(torch.equal(after_1[name], after_2[name]) for name in after_1)  # step 2 changed nothing
    assert any(not torch.equal(after_2[name], after_3[name]) for name in after_2)  # step 3 trained on
    assert all(torch.isfinite(p).all() for p in tiny.model.parameters())


def test_non_finite_gradients_in_a_row_stop_the_run_with_the_weights_before(tiny, tmp_path: Path) -> None:
    config = TrainConfig(steps=8, teacher="ema", ema_rate=0.5, **FAST)
    NaNGradientAt(tiny.model.get_input_embeddings().weight, steps=set(range(2, 9)))
    sink = WeightsSink(model=tiny.model)
    with pytest.raises(MonitorStop, match=f"{NONFINITE_STOP_AFTER} steps in a row") as stopped:
        train(loaded=tiny, examples=EXAMPLES, config=config, sink=sink, work_dir=tmp_path)
    assert "the weights are those before step 2" in str(stopped.value)
    last = 1 + NONFINITE_STOP_AFTER
    assert [step for step, _ in sink.steps] == list(range(1, last + 1))  # the stopping step was reported
    assert sink.metric("update_skipped") == [0.0] + [1.0] * NONFINITE_STOP_AFTER
    assert all(torch.equal(sink.students[0][name], sink.students[-1][name]) for name in sink.students[0])


def test_ema_teacher_moves_by_exactly_the_rate(tiny) -> None:
    teachers = Teachers(tiny.model, mode="ema", ema_rate=0.25, need_reference=False)
    before = {name: p.detach().clone() for name, p in teachers.teacher.named_parameters()}
    with torch.no_grad():
        for parameter in tiny.model.parameters():
            parameter.add_(torch.randn_like(parameter))
    teachers.after_optimizer_step()
    student = dict(tiny.model.named_parameters())
    for name, parameter in teachers.teacher.named_parameters():
        expected = before[name] + 0.25 * (student[name].detach() - before[name])
        torch.testing.assert_close(parameter, expected, rtol=0, atol=1e-6)
    assert teachers.teacher is not tiny.model
    assert not any(p.requires_grad for p in teachers.teacher.parameters())


def test_teacher_modes(tiny) -> None:
    assert Teachers(tiny.model, mode="live", ema_rate=0.01, need_reference=False).teacher is tiny.model
    frozen = Teachers(tiny.model, mode="frozen", ema_rate=0.01, need_reference=True)
    assert frozen.reference is frozen.teacher is not tiny.model
    snapshot = [p.clone() for p in frozen.teacher.parameters()]
    with torch.no_grad():
        next(tiny.model.parameters()).add_(1.0)
    frozen.after_optimizer_step()
    assert all(torch.equal(a, b) for a, b in zip(snapshot, frozen.teacher.parameters(), strict=True))


def test_lora_teachers_share_the_base_weights_and_keep_their_own_adapters(tiny) -> None:
    prepare_model(tiny, TrainConfig(lora_rank=4))
    student = tiny.model
    alone = held_bytes(student)
    teachers = Teachers(student, mode="ema", ema_rate=0.25, need_reference=True)
    adapter = sum(p.numel() * p.element_size() for p in student.parameters() if p.requires_grad)
    # Two copies cost two adapters, not two models.
    assert held_bytes(student, teachers.teacher, teachers.reference) == alone + 2 * adapter

    reference_before = {name: p.clone() for name, p in teachers.reference.named_parameters()}
    with torch.no_grad():
        for parameter in student.parameters():
            if parameter.requires_grad:
                parameter.add_(1.0)
    teachers.after_optimizer_step()
    student_weights = dict(student.named_parameters())
    for name, parameter in teachers.teacher.named_parameters():
        if "lora_" in name:  # moved a quarter of the way, from its own copy
            expected = reference_before[name] + 0.25 * (
                student_weights[name].detach() - reference_before[name]
            )
            torch.testing.assert_close(parameter, expected, rtol=0, atol=1e-6)
        else:
            assert parameter is student_weights[name]
    # The reference stays at the start; the teacher's update did not reach it.
    assert all(torch.equal(p, reference_before[n]) for n, p in teachers.reference.named_parameters())
    assert not any(p.requires_grad for p in teachers.teacher.parameters())
    assert any(p.requires_grad for p in student.parameters())


def test_full_fine_tuning_teachers_are_whole_copies(tiny) -> None:
    prepare_model(tiny, TrainConfig())
    teachers = Teachers(tiny.model, mode="ema", ema_rate=0.25, need_reference=True)
    alone = held_bytes(tiny.model)
    assert held_bytes(tiny.model, teachers.teacher, teachers.reference) == 3 * alone


@pytest.mark.parametrize("mode", ["ema", "frozen", "live"])
def test_a_given_start_copy_serves_as_the_frozen_teacher_and_the_reference(tiny, mode: str) -> None:
    prepare_model(tiny, TrainConfig())
    start = frozen_copy(tiny.model)  # a model the caller already holds, as the benchmark holds its base
    teachers = Teachers(tiny.model, mode=mode, ema_rate=0.25, need_reference=True, start_copy=start)
    assert teachers.reference is start
    assert (teachers.teacher is start) == (mode == "frozen")
    made = held_bytes(tiny.model, start, teachers.teacher, teachers.reference) - held_bytes(tiny.model, start)
    copies = Teachers.copy_count(mode, need_reference=True, start_given=True)
    assert made == copies * held_bytes(tiny.model)
    assert copies == (1 if mode == "ema" else 0)


def test_a_start_copy_with_other_weights_is_refused_naming_the_parameter(tiny) -> None:
    prepare_model(tiny, TrainConfig())
    start = frozen_copy(tiny.model)
    name, parameter = next(iter(start.named_parameters()))
    with torch.no_grad():
        parameter.add_(1e-3)
    with pytest.raises(ValueError, match=f"differs from the student at {name}"):
        Teachers(tiny.model, mode="ema", ema_rate=0.01, need_reference=True, start_copy=start)


def test_training_with_a_start_copy_is_the_same_training_with_one_copy_fewer(
    tiny, models_dir, tmp_path
) -> None:
    from worker.sdft.models import load_model

    config = TrainConfig(general_mix=0.5, steps=2, **FAST)
    twin = load_model("tiny", models_dir=models_dir)
    start = frozen_copy(twin.model)
    runs = {}
    for name, loaded, start_copy in (("copied", tiny, None), ("given", twin, start)):
        runs[name] = train(
            loaded=loaded,
            examples=EXAMPLES,
            config=config,
            sink=ListSink(),
            work_dir=tmp_path / name,
            resume=False,
            start_copy=start_copy,
        )
    for (name, trained), given in zip(tiny.model.named_parameters(), twin.model.parameters(), strict=True):
        assert torch.equal(trained, given), name
    untouched = load_model("tiny", models_dir=models_dir).model.parameters()
    assert all(torch.equal(a, b) for a, b in zip(start.parameters(), untouched, strict=True))
    assert not all(
        torch.equal(a, b) for a, b in zip(start.parameters(), twin.model.parameters(), strict=True)
    )
    whole = held_bytes(tiny.model) / 2**30
    copied, given = (runs[name].memory_estimate_gib["teacher_copies"] for name in ("copied", "given"))
    assert copied == pytest.approx(2 * whole, abs=1e-4) and given == pytest.approx(whole, abs=1e-4)
    with pytest.raises(ValueError, match="full fine-tuning"):
        train(
            loaded=twin,
            examples=EXAMPLES,
            config=config.replace(lora_rank=4),
            sink=ListSink(),
            work_dir=tmp_path / "lora",
            start_copy=start,
        )


def test_learning_rate_warms_up_then_decays() -> None:
    config = TrainConfig(lr=1.0, warmup_ratio=0.2)
    rates = [lr_at(step, config=config, total=10) for step in range(1, 11)]
    assert rates[:3] == [0.5, 1.0, 1.0]  # warm-up ends at the peak; cosine starts from it
    assert all(a > b for a, b in zip(rates[2:], rates[3:], strict=False))
    assert 0 < rates[-1] < 0.05


def _weights(loaded) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in loaded.model.named_parameters()}


@pytest.mark.parametrize("method", ["sdft", "sft"])
def test_resume_from_a_step_checkpoint_equals_an_uninterrupted_run(
    models_dir: Path, tmp_path: Path, method: str
) -> None:
    from worker.sdft.models import load_model

    config = TrainConfig(method=method, steps=4, checkpoint_every=2, grad_accum=3, **FAST)
    straight = load_model("tiny", models_dir=models_dir)
    straight_sink = ListSink()
    train(loaded=straight, examples=EXAMPLES, config=config, sink=straight_sink, work_dir=tmp_path / "a")

    interrupted = load_model("tiny", models_dir=models_dir)
    first_sink = ListSink(stop_after=2)
    first = train(
        loaded=interrupted, examples=EXAMPLES, config=config, sink=first_sink, work_dir=tmp_path / "b"
    )
    assert (first.stopped, first.steps_done) == (True, 2)
    assert [step for step, _ in first_sink.checkpoints] == [2]

    resumed = load_model("tiny", models_dir=models_dir)  # a fresh process would start from the same weights
    second_sink = ListSink()
    second = train(
        loaded=resumed, examples=EXAMPLES, config=config, sink=second_sink, work_dir=tmp_path / "b"
    )
    assert (second.resumed_from, second.steps_done, second.stopped) == (2, 4, False)
    assert [step for step, _ in second_sink.steps] == [3, 4]
    for name, value in _weights(straight).items():
        assert torch.equal(value, _weights(resumed)[name]), name
    for key in ("loss", "completion_tokens", "grad_norm"):
        assert [m[key] for _, m in straight_sink.steps[2:]] == [m[key] for _, m in second_sink.steps], key


def test_resume_skips_a_torn_step_checkpoint_and_refuses_other_settings(
    models_dir: Path, tmp_path: Path
) -> None:
    from worker.sdft.checkpoints import CheckpointError
    from worker.sdft.models import load_model

    config = TrainConfig(steps=5, checkpoint_every=2, keep_step_checkpoints=2, **FAST)
    loaded = load_model("tiny", models_dir=models_dir)
    sink = ListSink(stop_after=4)
    train(loaded=loaded, examples=EXAMPLES, config=config, sink=sink, work_dir=tmp_path)
    assert [step for step, _ in sink.checkpoints] == [2, 4]
    newest = sink.checkpoints[-1][1]
    (newest / "student.safetensors").write_bytes(b"torn")
    result = train(
        loaded=load_model("tiny", models_dir=models_dir),
        examples=EXAMPLES,
        config=config,
        sink=ListSink(),
        work_dir=tmp_path,
    )
    assert result.resumed_from == 2
    with pytest.raises(CheckpointError, match="different settings"):
        train(
            loaded=load_model("tiny", models_dir=models_dir),
            examples=EXAMPLES,
            config=config.replace(lr=1e-3),
            sink=ListSink(),
            work_dir=tmp_path,
        )


def test_lora_trains_only_the_adapter(tiny, tmp_path: Path) -> None:
    base = _weights(tiny)
    config = TrainConfig(steps=2, lora_rank=4, teacher="ema", **FAST)
    train(loaded=tiny, examples=EXAMPLES, config=config, sink=ListSink(), work_dir=tmp_path)
    assert tiny.is_lora
    trained = {name: p for name, p in tiny.model.named_parameters()}
    lora = [name for name in trained if "lora_" in name]
    assert lora and all(trained[name].requires_grad for name in lora)
    base_after = {
        name.replace("base_model.model.", "").replace(".base_layer", ""): p
        for name, p in trained.items()
        if "lora_" not in name
    }
    assert all(torch.equal(base[name], base_after[name]) for name in base)
    assert any(float(trained[name].abs().sum()) > 0 for name in lora if "lora_B" in name)


@pytest.mark.parametrize("lora_rank", [None, 4], ids=["full", "lora"])
def test_recomputed_activations_give_the_same_update(
    models_dir: Path, tmp_path: Path, lora_rank: int | None
) -> None:
    from worker.sdft.models import load_model

    config = TrainConfig(method="sft", steps=2, lora_rank=lora_rank, **FAST)
    runs = {}
    for recomputed in (False, True):
        loaded = load_model("tiny", models_dir=models_dir)
        sink = ListSink()
        train(
            loaded=loaded,
            examples=EXAMPLES,
            config=config.replace(gradient_checkpointing=recomputed),
            sink=sink,
            work_dir=tmp_path / str(recomputed),
        )
        runs[recomputed] = (sink, dict(loaded.model.named_parameters()))
        # Switched off after training: evaluation and generation keep their activations again.
        assert not any(getattr(m, "gradient_checkpointing", False) for m in loaded.model.modules())

    (stored_sink, stored), (recomputed_sink, recomputed) = runs[False], runs[True]
    assert recomputed_sink.metric("loss") == pytest.approx(stored_sink.metric("loss"), rel=1e-5)
    for name, parameter in stored.items():
        torch.testing.assert_close(recomputed[name], parameter, rtol=0, atol=1e-5, msg=name)


def test_general_prompts_bf16_live_teacher_and_traces(tiny, tmp_path: Path) -> None:
    config = TrainConfig(
        steps=2,
        teacher="live",
        general_mix=0.34,
        dtype="bfloat16",
        trace_every=1,
        trace_samples=2,
        divergence="jsd",
        **FAST,
    )
    general = [[{"role": "user", "content": "Name a colour."}], [{"role": "user", "content": "Say hello."}]]
    sink = ListSink()
    train(
        loaded=tiny, examples=EXAMPLES, config=config, sink=sink, work_dir=tmp_path, general_prompts=general
    )
    assert len(sink.steps) == 2 and "general_divergence" in sink.steps[0][1]
    step, traces = sink.traces[0]
    assert step == 1 and len(traces) == 2
    trace = traces[0]
    assert trace["demonstration"] in trace["teacher_prompt"] and trace["demonstration"] not in trace["prompt"]
    token = trace["tokens"][0]
    assert set(token) == {
        "token",
        "token_id",
        "student_logprob",
        "teacher_logprob",
        "divergence",
        "student_top",
        "teacher_top",
    }
    assert len(token["student_top"]) == 5 and len(token["teacher_top"][0]) == 2
    with pytest.raises(ConfigError, match="general"):
        train(
            loaded=tiny,
            examples=EXAMPLES,
            config=config,
            sink=ListSink(),
            work_dir=tmp_path / "x",
            general_prompts=[],
        )
    # None given (a job from the app, the CLI without --general-prompts): the built-in set is mixed in.
    builtin_sink = ListSink()
    train(loaded=tiny, examples=EXAMPLES, config=config, sink=builtin_sink, work_dir=tmp_path / "y")
    assert all("general_divergence" in metrics for _, metrics in builtin_sink.steps)


def test_an_unset_general_mix_is_decided_by_the_models_size(
    tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = TrainConfig(steps=1, **FAST)
    small = train(
        loaded=tiny, examples=EXAMPLES, config=config, sink=(sink := ListSink()), work_dir=tmp_path / "a"
    )
    assert small.resolved == {"general_mix": 0.0} and "general_divergence" not in sink.steps[0][1]
    # As if the tiny model were 0.3B parameters or more: a quarter of each batch is built-in general prompts.
    monkeypatch.setattr("worker.sdft.config.AUTO_LARGE_MODEL_PARAMETERS", 1)
    large = train(
        loaded=tiny,
        examples=EXAMPLES,
        config=config.replace(batch_size=4),
        sink=(sink := ListSink()),
        work_dir=tmp_path / "b",
    )
    assert large.resolved == {"general_mix": 0.25} and "general_divergence" in sink.steps[0][1]
    explicit = train(
        loaded=tiny,
        examples=EXAMPLES,
        config=config.replace(general_mix=0.0),
        sink=ListSink(),
        work_dir=tmp_path / "c",
    )
    assert explicit.resolved == {}  # a set value is the config's own


def test_an_unset_lr_is_decided_by_the_method_and_the_models_size(
    tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = {key: value for key, value in FAST.items() if key != "lr"}
    # The tiny model is small; the threshold at 1 parameter makes it large (0.3B and up: SFT 1e-5).
    for threshold, method, lr in ((None, "sft", 2e-5), (1, "sft", 1e-5), (1, "sdft", 2e-5)):
        if threshold is not None:
            monkeypatch.setattr("worker.sdft.config.AUTO_LARGE_MODEL_PARAMETERS", threshold)
        config = TrainConfig(method=method, steps=1, **fast)
        result = train(
            loaded=tiny,
            examples=EXAMPLES,
            config=config.replace(general_mix=0.0),
            sink=(sink := ListSink()),
            work_dir=tmp_path / f"{method}-{threshold}",
        )
        assert result.resolved == {"lr": lr}
        assert result.config_as_run(config)["lr"] == lr  # what the manifest records
        assert sink.steps[0][1]["lr"] == pytest.approx(lr)  # no warm-up: the first step trains at it


def test_a_prompt_that_cannot_fit_is_an_error_naming_its_line(tiny, tmp_path: Path) -> None:
    long_demo = Example(prompt=[{"role": "user", "content": "Q"}], demonstration="word " * 3000, line=7)
    with pytest.raises(DataError) as error:
        train(
            loaded=tiny, examples=[long_demo], config=TrainConfig(steps=1), sink=ListSink(), work_dir=tmp_path
        )
    assert (error.value.line, error.value.field) == (7, "demonstration")
    assert not any(tmp_path.iterdir())
