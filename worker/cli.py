"""`apprentice`: train, generate and inspect per-token log-probs from the command line.

Each subcommand is a pair of functions, `add_<name>(parser)` and `run_<name>(args) -> int`, listed in
COMMANDS; adding one (eval, preflight) is a new pair and a line there. Bad input (a missing file, a
malformed row, an unknown model, a prompt that cannot fit) exits with status 2 and one line on
stderr, before anything is written. Heavy imports (torch, transformers) happen inside the commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worker.cli_eval import add_eval, run_eval

DEFAULT_MODEL = "smollm2-135m"
DEFAULT_MODELS_DIR = Path("data/models")


class UsageError(Exception):
    """Bad input detected by the CLI itself."""


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="tiny, smollm2-135m, qwen2.5-0.5b, a folder or an HF id"
    )
    parser.add_argument(
        "--models-dir", type=Path, default=DEFAULT_MODELS_DIR, help="model cache (default ./data/models)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )


def _load(args: argparse.Namespace, name: str | None = None) -> Any:
    import torch
    from transformers.utils import logging as transformers_logging

    from worker.sdft.models import load_model

    transformers_logging.disable_progress_bar()  # stderr is for errors; stdout is JSON
    if args.threads:
        torch.set_num_threads(args.threads)
    return load_model(name or args.model, models_dir=args.models_dir, device=args.device)


# --- train


def add_train(parser: argparse.ArgumentParser) -> None:
    _add_model_arguments(parser)
    parser.add_argument("--demos", type=Path, required=True, help="demonstrations: .jsonl, .json or .csv")
    parser.add_argument(
        "--out", type=Path, required=True, help="checkpoint folder to create (must not exist)"
    )
    parser.add_argument(
        "--config", type=Path, help="JSON object of training settings; flags below override it"
    )
    parser.add_argument("--work-dir", type=Path, help="step checkpoints (default: .<out>.work beside --out)")
    parser.add_argument("--no-resume", action="store_true", help="ignore step checkpoints in the work dir")
    parser.add_argument(
        "--general-prompts",
        type=Path,
        help="JSONL of {prompt} rows mixed in with --general-mix (default: the built-in set, worker/sdft/general_prompts.py)",
    )
    parser.add_argument("--traces", type=Path, help="append per-token traces here as JSONL")
    parser.add_argument(
        "--paper",
        action="store_true",
        help="the SDFT paper's settings where the defaults differ: its teacher template, 3 skipped "
        "tokens and no general prompts (--config and the flags below still override them)",
    )
    _add_template_argument(parser)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int)
    length.add_argument("--epochs", type=float)
    flags: list[tuple[str, type, Any]] = [
        ("--method", str, ["sdft", "sft"]),
        ("--teacher", str, ["ema", "frozen", "live"]),
        ("--divergence", str, ["forward_kl", "reverse_kl", "jsd"]),
        ("--beta", float, None),
        ("--lr", float, None),
        ("--batch-size", int, None),
        ("--grad-accum", int, None),
        ("--ema-rate", float, None),
        ("--top-k", int, None),
        ("--skip-first-tokens", int, None),
        ("--n-rollouts", int, None),
        ("--temperature", float, None),
        ("--max-new-tokens", int, None),
        ("--lora-rank", int, None),
        ("--general-mix", float, None),
        ("--loss-chunk-size", int, None),
        ("--dtype", str, ["float32", "bfloat16"]),
        ("--seed", int, None),
        ("--checkpoint-every", int, None),
        ("--trace-every", int, None),
        ("--rollout-engine", str, ["transformers", "vllm"]),
        ("--vllm-sync-every", int, None),
        ("--num-gpus", int, None),
    ]
    for flag, kind, choices in flags:
        parser.add_argument(flag, type=kind, choices=choices)
    parser.add_argument(
        "--shard-weights",
        action="store_true",
        default=None,
        help="with --num-gpus N: split weights, gradients and AdamW state over the N processes (FSDP)",
    )


def _train_config(args: argparse.Namespace) -> Any:
    from worker.sdft.config import PAPER_SETTINGS, ConfigError, TrainConfig

    settings: dict[str, Any] = {}
    if args.config:
        try:
            settings = json.loads(args.config.read_text())
        except FileNotFoundError:
            raise UsageError(f"{args.config} does not exist") from None
        except json.JSONDecodeError as error:
            raise UsageError(f"{args.config}: line {error.lineno}: not valid JSON ({error.msg})") from None
        if not isinstance(settings, dict):
            raise ConfigError("config", f"{args.config} must hold a JSON object")
    names = [
        "method",
        "teacher",
        "divergence",
        "beta",
        "lr",
        "batch_size",
        "grad_accum",
        "ema_rate",
        "top_k",
        "skip_first_tokens",
        "n_rollouts",
        "temperature",
        "max_new_tokens",
        "lora_rank",
        "general_mix",
        "loss_chunk_size",
        "dtype",
        "seed",
        "checkpoint_every",
        "trace_every",
        "rollout_engine",
        "vllm_sync_every",
        "num_gpus",
        "shard_weights",
        "steps",
        "epochs",
    ]
    for name in names:
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    if args.template:
        settings["teacher_template"] = _teacher_template(args)
    if args.steps is not None or args.epochs is not None:
        settings.pop("epochs" if args.steps is not None else "steps", None)
    return TrainConfig.from_dict({**(PAPER_SETTINGS if args.paper else {}), **settings})


def _read_general_prompts(path: Path | None) -> list[list[dict[str, str]]] | None:
    from worker.sdft.data import DataError, parse_messages

    if path is None:
        return None
    if not path.exists():
        raise DataError(None, "file", f"{path} does not exist")
    prompts = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as error:
            raise DataError(number, "row", f"is not valid JSON ({error.msg})", path=str(path)) from None
        value = row.get("prompt") if isinstance(row, dict) else row
        prompts.append(parse_messages(value, line=number))
    return prompts


def run_train(args: argparse.Namespace) -> int:
    from worker.sdft.checkpoints import write_checkpoint
    from worker.sdft.data import examples_hash, read_examples
    from worker.sdft.train import train

    config = _train_config(args)
    examples = read_examples(args.demos)
    general_prompts = _read_general_prompts(args.general_prompts)
    out: Path = args.out
    if out.exists():
        raise UsageError(f"{out} already exists; checkpoints are never overwritten")
    work_dir = args.work_dir or out.parent / f".{out.name}.work"

    class PrintingSink:
        def on_step(self, step: int, metrics: dict[str, float]) -> None:
            _emit({"event": "step", "step": step, **{k: round(v, 6) for k, v in metrics.items()}})

        def on_traces(self, step: int, traces: list[dict[str, Any]]) -> None:
            if args.traces:
                with args.traces.open("a") as handle:
                    for trace in traces:
                        handle.write(json.dumps({"step": step, **trace}, ensure_ascii=False) + "\n")

        def on_step_checkpoint(self, step: int, path: Path) -> None:
            _emit({"event": "step_checkpoint", "step": step, "path": str(path)})

        def should_stop(self) -> bool:
            return False

    if config.num_gpus > 1:
        return _run_train_data_parallel(args, config, examples, general_prompts, PrintingSink(), work_dir)
    loaded = _load(args)
    parent = (
        str(Path(loaded.name).resolve()) if "manifest" in loaded.extra else None
    )  # started from a checkpoint
    result = train(
        loaded=loaded,
        examples=examples,
        config=config,
        sink=PrintingSink(),
        work_dir=work_dir,
        resume=not args.no_resume,
        general_prompts=general_prompts,
    )
    manifest = {
        "parent": parent,
        "start_model": args.model,
        "method": config.method,
        "config": result.config_as_run(config),
        "data_hash": examples_hash(examples),
        "data_file": str(args.demos),
        "steps": result.steps_done,
        "metrics": result.final_metrics,
        "memory_estimate_gib": result.memory_estimate_gib,
    }
    path = write_checkpoint(loaded, out, manifest=manifest)
    _emit({"event": "checkpoint", "path": str(path), "steps": result.steps_done})
    return 0


def _run_train_data_parallel(
    args: argparse.Namespace,
    config: Any,
    examples: list[Any],
    general_prompts: Any,
    sink: Any,
    work_dir: Path,
) -> int:
    """--num-gpus N: N processes (GPUs 0..N-1, or CPU processes with --device cpu), see worker/sdft/launch.py."""
    from worker.sdft.data import examples_hash
    from worker.sdft.launch import LaunchSpec, train_on_processes

    started_from = Path(args.model)
    spec = LaunchSpec.build(
        model=args.model,
        models_dir=args.models_dir,
        examples=examples,
        config=config,
        work_dir=work_dir,
        checkpoint_dest=args.out,
        manifest={
            "parent": str(started_from.resolve()) if (started_from / "manifest.json").exists() else None,
            "start_model": args.model,
            "method": config.method,
            "data_hash": examples_hash(examples),
            "data_file": str(args.demos),
        },
        device="cuda" if str(args.device).startswith("cuda") else "cpu",
        general_prompts=general_prompts,
        resume=not args.no_resume,
    )
    launched = train_on_processes(
        spec, num_processes=config.num_gpus, sink=sink, launch_dir=work_dir / "launch"
    )
    _emit({"event": "checkpoint", "path": str(launched.checkpoint), "steps": launched.result.steps_done})
    return 0


# --- generate


def add_generate(parser: argparse.ArgumentParser) -> None:
    _add_model_arguments(parser)
    parser.add_argument("--prompt", required=True, action="append", help="user message (repeat for a batch)")
    parser.add_argument("--system", help="system message")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object per prompt")


def _add_template_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--template",
        help="teacher template with {prompt} and {demonstration}, or 'format' (the default: answer in "
        "the example's format) or 'paper' (the SDFT paper's wording)",
    )


def _teacher_template(args: argparse.Namespace) -> str:
    """--template as given or a preset by name, else the default; validated as a training run would."""
    from worker.sdft.config import DEFAULT_TEACHER_TEMPLATE, TEACHER_TEMPLATE_PRESETS, TrainConfig

    template = TEACHER_TEMPLATE_PRESETS.get(args.template, args.template) if args.template else None
    return TrainConfig(teacher_template=template or DEFAULT_TEACHER_TEMPLATE).teacher_template


def _messages(system: str | None, user: str) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def run_generate(args: argparse.Namespace) -> int:
    import torch

    from worker.sdft.prompts import encode, render_prompt
    from worker.sdft.rollout import TransformersRolloutEngine

    if args.max_new_tokens < 1 or args.temperature < 0:
        raise UsageError("--max-new-tokens must be >= 1 and --temperature >= 0")
    loaded = _load(args)
    torch.manual_seed(args.seed)
    prompts = [
        encode(loaded.tokenizer, render_prompt(loaded.tokenizer, _messages(args.system, p)))
        for p in args.prompt
    ]
    completions = TransformersRolloutEngine().generate(
        loaded.model,
        prompts,
        eos_token_ids=loaded.eos_token_ids,
        pad_token_id=loaded.pad_token_id,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
    )
    for prompt, completion in zip(args.prompt, completions, strict=True):
        text = loaded.tokenizer.decode(completion.token_ids, skip_special_tokens=True)
        if args.json:
            _emit(
                {
                    "prompt": prompt,
                    "completion": text,
                    "tokens": len(completion.token_ids),
                    "ended": completion.ended,
                }
            )
        else:
            sys.stdout.write(text + "\n")
    return 0


# --- logprobs


def add_logprobs(parser: argparse.ArgumentParser) -> None:
    _add_model_arguments(parser)
    parser.add_argument("--prompt", required=True, help="user message the student sees")
    parser.add_argument("--completion", required=True, help="the completion to score, token by token")
    parser.add_argument("--system", help="system message")
    parser.add_argument("--demonstration", help="builds the teacher prompt with the template (default: none)")
    parser.add_argument("--context", help="privileged context for the teacher prompt")
    _add_template_argument(parser)
    parser.add_argument("--teacher-model", help="score the teacher prompt with this model (default: --model)")
    parser.add_argument("--divergence", default="forward_kl", choices=["forward_kl", "reverse_kl", "jsd"])
    parser.add_argument("--top-k", type=int, default=5)


def run_logprobs(args: argparse.Namespace) -> int:
    from worker.sdft.data import Example
    from worker.sdft.logprobs import token_traces
    from worker.sdft.prompts import encode, render_prompt, teacher_messages

    if not args.completion:
        raise UsageError("--completion is empty")
    template = _teacher_template(args)
    loaded = _load(args)
    teacher = _load(args, args.teacher_model).model if args.teacher_model else None
    student_messages = _messages(args.system, args.prompt)
    if args.demonstration:
        example = Example(prompt=student_messages, demonstration=args.demonstration, context=args.context)
        teacher_text = render_prompt(loaded.tokenizer, teacher_messages(example, template=template))
    else:
        teacher_text = render_prompt(loaded.tokenizer, student_messages)
    student_text = render_prompt(loaded.tokenizer, student_messages)
    tokens = token_traces(
        loaded,
        student_prompt_ids=encode(loaded.tokenizer, student_text),
        teacher_prompt_ids=encode(loaded.tokenizer, teacher_text),
        completion_ids=encode(loaded.tokenizer, args.completion),
        teacher_model=teacher,
        top_k=args.top_k,
        divergence=args.divergence,
    )
    _emit(
        {
            "prompt": student_text,
            "teacher_prompt": teacher_text,
            "completion": args.completion,
            "tokens": tokens,
        }
    )
    return 0


# --- preflight


def add_preflight(parser: argparse.ArgumentParser) -> None:
    _add_model_arguments(parser)
    parser.add_argument("--demos", type=Path, required=True, help="demonstrations: .jsonl, .json or .csv")
    _add_template_argument(parser)
    parser.add_argument("--max-prompt-tokens", type=int, default=2048, help="training limit to warn about")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="rollout length to leave room for")
    parser.add_argument(
        "--scorer", help="score the teacher's greedy answers against `reference` (e.g. exact)"
    )
    parser.add_argument("--scorer-config", default="{}", help="JSON object of scorer options")
    parser.add_argument("--no-answers", action="store_true", help="skip the teacher's greedy answers (fast)")
    parser.add_argument("--answer-max-new-tokens", type=int, default=128)
    parser.add_argument("--weak-gap", type=float, default=0.1, help="flag gaps below this (nats/token)")
    parser.add_argument("--out", type=Path, help="also write the whole report here as JSON")


def run_preflight(args: argparse.Namespace) -> int:
    """One JSON line per demonstration, most useful first, then the summary."""
    from worker.sdft.config import TrainConfig
    from worker.sdft.data import read_examples
    from worker.sdft.preflight import preflight
    from worker.sdft.scoring import get_scorer

    checked = TrainConfig(
        teacher_template=_teacher_template(args),
        max_prompt_tokens=args.max_prompt_tokens,
        max_new_tokens=args.max_new_tokens,
    )  # the same validation a training run would apply to these settings
    if args.answer_max_new_tokens < 1:
        raise UsageError("--answer-max-new-tokens must be >= 1")
    scorer = None
    if args.scorer:
        try:
            options = json.loads(args.scorer_config)
            scorer = get_scorer(args.scorer, **(options if isinstance(options, dict) else {}))
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            raise UsageError(f"--scorer/--scorer-config: {error}") from None
    examples = read_examples(args.demos)
    if args.out is not None and args.out.exists():
        raise UsageError(f"{args.out} already exists; reports are never overwritten")
    report = preflight(
        _load(args),
        examples,
        template=checked.teacher_template,
        max_prompt_tokens=checked.max_prompt_tokens,
        max_new_tokens=checked.max_new_tokens,
        scorer=scorer,
        teacher_answers=not args.no_answers,
        answer_max_new_tokens=args.answer_max_new_tokens,
        weak_gap=args.weak_gap,
    )
    payload = report.to_dict()
    for row in payload["demonstrations"]:
        _emit({"event": "demonstration", **row})
    _emit({"event": "summary", "model": payload["model"], **payload["summary"]})
    if args.out is not None:
        args.out.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n")
    return 0


COMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "train": ("train a skill with SDFT or SFT; one JSON line per step", add_train, run_train),
    "generate": ("generate from a model or checkpoint", add_generate, run_generate),
    "logprobs": ("per-token student/teacher log-probs of a completion, as JSON", add_logprobs, run_logprobs),
    "preflight": ("check demonstrations for a teacher signal before training", add_preflight, run_preflight),
    "eval": ("score a model or checkpoint on a skill file (and the general probe)", add_eval, run_eval),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apprentice", description="Teach a language model skills with SDFT."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(subparser)
        subparser.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from worker.sdft.checkpoints import CheckpointError
    from worker.sdft.config import ConfigError
    from worker.sdft.data import DataError
    from worker.sdft.models import ModelError

    try:
        return int(args.run(args))
    except (UsageError, ConfigError, DataError, ModelError, CheckpointError) as error:
        message = " ".join(str(error).split())  # one line, whatever the error held
        sys.stderr.write(f"apprentice {args.command}: error: {message}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
