"""The numbers the product quotes from the learning benchmark, computed from the results files.

The queue form tells users choosing SDFT or SFT what our benchmark measured. Those numbers used to be
copied by hand from learning.md; now each is a named claim below — which runs (model, device, skill or
order, budget, method, seeds) and which metric — and `python -m bench.learning_claims` writes them to
frontend/src/generated/measured.json, which the form renders. tests/bench/test_learning_claims.py
recomputes them from bench/results and fails when the committed file differs (a rerun moved a number)
or when a direction or tie the form's wording states (RELATIONS, NOT_BELOW) no longer holds.

Reads JSON only: no torch, so the test costs milliseconds.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from bench.learning_keys import parse_key
from bench.learning_report import _keep_latest, load_results

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MEASURED_JSON = ROOT / "frontend" / "src" / "generated" / "measured.json"

# The key parts that fix a run's budget and evaluation (bench/learning_keys.py lays keys out):
# "<steps>x<prompts>@<lr>[/<rollout tokens>]" and "t<train rows>e<eval rows>[h<held out>]p<probe items>".
COMPARISON_LIMITS = "tNonee50hNonep60"  # every train row, eval ≤50 rows, probe 60 items
SEQUENTIAL = ("tooluse>science>dates", "12x4@2e-05", "tNonee50p60")  # order, budget per skill, limits


class ClaimError(ValueError):
    """A claim whose runs are not all in the results: names the claim and what is missing."""


@dataclass(frozen=True)
class Claim:
    """One number quoted to users: the mean over `seeds` of `metric` in the runs the selector picks.

    Runs are picked by the parts of their key: `model` (which names a GPU run's device and precision,
    "qwen2.5-0.5b-untied@cuda/bfloat16"), `subject` (a comparison run's skill, a sequential run's order),
    `budget` and `limits` (so runs under other budgets or eval sizes never mix in), the method and the
    seeds. Metrics: "task" (new-skill accuracy), "general" (the probe), "kl" for comparison runs;
    "skill:<name>" (that skill's accuracy after the last one), "general", "acc" (average accuracy),
    "forgetting" for sequential runs, all taken after the last skill.
    """

    name: str
    phase: str  # comparison | sequential
    model: str
    subject: str
    budget: str
    limits: str
    method: str
    metric: str
    seeds: tuple[int | None, ...]


ROLLOUT_TOKENS = {"dates": 32, "science": 64, "tooluse": 64}  # the skills' own rollout limits


def _comparison(
    name: str,
    model: str,
    skill: str,
    method: str,
    metric: str,
    seeds=(0, 1),
    *,
    budget: str | None = None,
    limits: str = COMPARISON_LIMITS,
) -> Claim:
    budget = budget or f"20x4@2e-05/{ROLLOUT_TOKENS[skill]}"
    return Claim(name, "comparison", model, skill, budget, limits, method, metric, tuple(seeds))


def _sequential(
    name: str, model: str, method: str, metric: str, seeds=(0, 1), *, order: str | None = None
) -> Claim:
    default_order, budget, limits = SEQUENTIAL
    return Claim(
        name, "sequential", model, order or default_order, budget, limits, method, metric, tuple(seeds)
    )


# QWEN and QWEN_GPU claims rest on runs of the conversion before the head was tied to the embedding
# (worker/sdft/models.py, 2026-12-06), keyed "qwen2.5-0.5b-untied" since; QWEN_TIED ones on runs after.
QWEN, QWEN_GPU, SMOLLM = "qwen2.5-0.5b-untied", "qwen2.5-0.5b-untied@cuda/bfloat16", "smollm2-135m"
QWEN_TIED = "qwen2.5-0.5b"  # the published weights: head and embedding one tensor (CPU runs)
MIX = "sdft-format-skip0-mix25"  # SDFT's defaults from 0.3B parameters
# learning-qwen-tooluse.json and learning-qwen-science-cpu.json: 8 steps, eval 30 rows, probe 30 items
QWEN_CPU_8_STEPS, QWEN_CPU_8_STEPS_LIMITS = "8x4@2e-05/64", "tNonee30hNonep30"
# the sequential runs' other order (learning-qwen-sequential-*-dst.json)
DATES_FIRST = "dates>science>tooluse"

CLAIMS: tuple[Claim, ...] = (
    # SmolLM2-135M, dates from the base (CPU, 2 seeds)
    _comparison("smollm_dates_sft", SMOLLM, "dates", "sft", "task"),
    _comparison("smollm_dates_sdft", SMOLLM, "dates", "sdft-default", "task"),
    _comparison("smollm_dates_sft_lr5e6", SMOLLM, "dates", "sft-lr5e-6", "task"),
    _comparison("smollm_dates_sft_probe", SMOLLM, "dates", "sft", "general"),
    _comparison("smollm_dates_sdft_probe", SMOLLM, "dates", "sdft-default", "general"),
    _comparison("smollm_science_sft", SMOLLM, "science", "sft", "task"),
    _comparison("smollm_science_sdft", SMOLLM, "science", "sdft-default", "task"),
    _comparison("smollm_dates_sft_lr1e5", SMOLLM, "dates", "sft-lr1e-5", "task"),
    _comparison("smollm_science_sft_lr1e5", SMOLLM, "science", "sft-lr1e-5", "task"),
    # SmolLM2-135M, three skills in a row, 12 steps each (CPU, 2 seeds)
    _sequential("smollm_seq_sft_tooluse", SMOLLM, "sft", "skill:tooluse"),
    _sequential("smollm_seq_sdft_tooluse", SMOLLM, "sdft-default", "skill:tooluse"),
    _sequential("smollm_seq_sft_science", SMOLLM, "sft", "skill:science"),
    _sequential("smollm_seq_sft_probe", SMOLLM, "sft", "general"),
    _sequential("smollm_seq_sft_lr1e5_science", SMOLLM, "sft-lr1e-5", "skill:science"),
    _sequential("smollm_seq_sft_lr1e5_probe", SMOLLM, "sft-lr1e-5", "general"),
    # The teacher, with the paper's settings otherwise (its template, 3 skipped tokens), dates from the base
    # (CPU, 2 seeds): the EMA teacher (sdft-paper), the frozen starting model, the live student
    _comparison("smollm_dates_ema_probe", SMOLLM, "dates", "sdft-paper", "general"),
    _comparison("smollm_dates_frozen_probe", SMOLLM, "dates", "sdft-frozen", "general"),
    _comparison("smollm_dates_live_probe", SMOLLM, "dates", "sdft-live", "general"),
    _comparison("qwen_cpu_dates_ema_probe", QWEN, "dates", "sdft-paper", "general"),
    _comparison("qwen_cpu_dates_frozen_probe", QWEN, "dates", "sdft-frozen", "general"),
    _comparison("qwen_cpu_dates_live_probe", QWEN, "dates", "sdft-live", "general"),
    # ... and on tool use and science, 8 steps (a 0.5B SDFT step takes 45 s to 2 min on the CPU)
    *(
        _comparison(
            f"qwen_cpu_{skill}_{teacher}_probe",
            QWEN,
            skill,
            method,
            "general",
            budget=QWEN_CPU_8_STEPS,
            limits=QWEN_CPU_8_STEPS_LIMITS,
        )
        for skill in ("tooluse", "science")
        for teacher, method in (("ema", "sdft-paper"), ("frozen", "sdft-frozen"), ("live", "sdft-live"))
    ),
    # Qwen2.5-0.5B, dates from the base (H200, 2 seeds)
    _comparison("qwen_dates_base_probe", QWEN_GPU, "dates", "base", "general", seeds=(None,)),
    _comparison("qwen_dates_sft", QWEN_GPU, "dates", "sft", "task"),
    _comparison("qwen_dates_sdft_mix", QWEN_GPU, "dates", MIX, "task"),
    _comparison("qwen_dates_sdft_mix_probe", QWEN_GPU, "dates", MIX, "general"),
    _comparison("qwen_dates_sft_probe", QWEN_GPU, "dates", "sft", "general"),
    _comparison("qwen_dates_sft_lr1e5", QWEN_GPU, "dates", "sft-lr1e-5", "task"),
    _comparison("qwen_dates_sft_lr1e5_probe", QWEN_GPU, "dates", "sft-lr1e-5", "general"),
    _comparison("qwen_dates_sft_lr5e6_probe", QWEN_GPU, "dates", "sft-lr5e-6", "general"),
    # Qwen2.5-0.5B, science from the base (H200, 2 seeds)
    _comparison("qwen_science_sft", QWEN_GPU, "science", "sft", "task"),
    _comparison("qwen_science_sft_lr1e5", QWEN_GPU, "science", "sft-lr1e-5", "task"),
    # Qwen2.5-0.5B, tool use from the base (H200 2 seeds; SFT at 1e-5 on the CPU, 2 seeds)
    _comparison("qwen_tooluse_base", QWEN_GPU, "tooluse", "base", "task", seeds=(None,)),
    _comparison("qwen_tooluse_sft", QWEN_GPU, "tooluse", "sft", "task"),
    _comparison("qwen_tooluse_sdft_mix", QWEN_GPU, "tooluse", MIX, "task"),
    _comparison("qwen_tooluse_sft_lr1e5", QWEN, "tooluse", "sft-lr1e-5", "task"),
    # ... and the same budget on the CPU (float32), where the defaults learned as on the H200 but kept less
    _comparison("qwen_cpu_tooluse_base_probe", QWEN, "tooluse", "base", "general", seeds=(None,)),
    _comparison("qwen_cpu_tooluse_sdft_mix", QWEN, "tooluse", MIX, "task"),
    _comparison("qwen_cpu_tooluse_sdft_mix_probe", QWEN, "tooluse", MIX, "general"),
    _comparison("qwen_tooluse_sft_lr1e5_probe", QWEN, "tooluse", "sft-lr1e-5", "general"),
    # Qwen2.5-0.5B as published (head tied), dates and science from the base (CPU, 2 seeds)
    _comparison("qwen_tied_dates_base_probe", QWEN_TIED, "dates", "base", "general", seeds=(None,)),
    _comparison("qwen_tied_dates_sft_lr1e5", QWEN_TIED, "dates", "sft-lr1e-5", "task"),
    _comparison("qwen_tied_dates_sft_lr1e5_probe", QWEN_TIED, "dates", "sft-lr1e-5", "general"),
    _comparison("qwen_tied_dates_sdft_mix", QWEN_TIED, "dates", MIX, "task"),
    _comparison("qwen_tied_dates_sdft_mix_probe", QWEN_TIED, "dates", MIX, "general"),
    *(
        _comparison(
            f"qwen_tied_science_{short}",
            QWEN_TIED,
            "science",
            method,
            "task",
            seeds=seeds,
            budget=QWEN_CPU_8_STEPS,
            limits=QWEN_CPU_8_STEPS_LIMITS,
        )
        for short, method, seeds in (
            ("base", "base", (None,)),
            ("sft_lr1e5", "sft-lr1e-5", (0, 1)),
            ("sdft_mix", MIX, (0, 1)),
        )
    ),
    # ... and tool use → science → dates (CPU, one seed each)
    *(
        _sequential(
            f"qwen_tied_seq_{short}_{metric.removeprefix('skill:')}", QWEN_TIED, method, metric, seeds=(0,)
        )
        for short, method in (("sft_lr1e5", "sft-lr1e-5"), ("sdft_mix", MIX))
        for metric in ("general", "skill:tooluse", "skill:science", "skill:dates")
    ),
    # Qwen2.5-0.5B, tool use → science → dates (CPU 2 seeds; SFT at 2e-5 on the H200, one)
    _sequential("qwen_seq_sdft_mix_probe", QWEN, MIX, "general"),
    _sequential("qwen_seq_sdft_mix_tooluse", QWEN, MIX, "skill:tooluse"),
    _sequential("qwen_seq_sdft_mix_science", QWEN, MIX, "skill:science"),
    _sequential("qwen_seq_sdft_mix_dates", QWEN, MIX, "skill:dates"),
    _sequential("qwen_seq_sft_lr1e5_probe", QWEN, "sft-lr1e-5", "general"),
    _sequential("qwen_seq_sft_lr1e5_tooluse", QWEN, "sft-lr1e-5", "skill:tooluse"),
    _sequential("qwen_seq_sft_lr1e5_science", QWEN, "sft-lr1e-5", "skill:science"),
    _sequential("qwen_seq_sft_lr1e5_dates", QWEN, "sft-lr1e-5", "skill:dates"),
    _sequential("qwen_seq_sft_probe", QWEN_GPU, "sft", "general", seeds=(0,)),
    _sequential("qwen_seq_sft_lr5e6_probe", QWEN, "sft-lr5e-6", "general"),
    # ... and in the other order, dates → science → tool use (CPU, 2 seeds each)
    *(
        _sequential(f"qwen_seq_dst_{short}_{metric}", QWEN, method, metric, seeds=seeds, order=DATES_FIRST)
        for short, method, seeds in (("sft_lr1e5", "sft-lr1e-5", (0, 1)), ("sdft_mix", MIX, (0, 1)))
        for metric in ("general", "acc")
    ),
)

# The direction each sentence of the form states, as (larger, smaller) claim names: a rerun that
# reverses one makes the wording false, not just a number stale. A tie breaks it.
RELATIONS: tuple[tuple[str, str], ...] = (
    ("smollm_dates_sft", "smollm_dates_sdft"),  # "SFT learned more than SDFT on every skill"
    ("smollm_science_sft", "smollm_science_sdft"),
    ("smollm_seq_sft_tooluse", "smollm_seq_sdft_tooluse"),
    ("smollm_dates_sft_probe", "smollm_dates_sdft_probe"),  # "and kept more of the general probe"
    ("smollm_dates_sft", "smollm_dates_sft_lr5e6"),  # "5e-6 much less"
    ("smollm_seq_sft_science", "smollm_seq_sft_lr1e5_science"),  # "less of three in a row"
    ("smollm_seq_sft_probe", "smollm_seq_sft_lr1e5_probe"),
    ("qwen_dates_sdft_mix_probe", "qwen_dates_sft_probe"),  # "kept 68 % ... against 38 % for SFT at 2e-5"
    ("qwen_dates_sft_lr5e6_probe", "qwen_dates_sdft_mix_probe"),  # "but SFT at lr 5e-6 kept 76 %"
    ("qwen_dates_sft_lr1e5_probe", "qwen_dates_sft_probe"),  # "kept more of the general probe"
    ("qwen_tooluse_sft", "qwen_tooluse_sdft_mix"),  # "SFT reached 43 %, SDFT 31 %"
    ("qwen_tooluse_sft_lr1e5", "qwen_tooluse_sft"),  # "56 % against 43 %"
    ("qwen_tooluse_sft_lr1e5", "qwen_cpu_tooluse_sdft_mix"),  # on the CPU SFT at 1e-5 learned more ...
    ("qwen_tooluse_sft_lr1e5_probe", "qwen_cpu_tooluse_sdft_mix_probe"),  # ... and kept more of the probe
    ("qwen_seq_sft_lr1e5_probe", "qwen_seq_sdft_mix_probe"),  # SFT at 1e-5 kept more in a row ...
    ("qwen_seq_sft_lr1e5_tooluse", "qwen_seq_sdft_mix_tooluse"),  # ... and learned more of each skill
    ("qwen_seq_sft_lr1e5_science", "qwen_seq_sdft_mix_science"),
    ("qwen_seq_sft_lr1e5_dates", "qwen_seq_sdft_mix_dates"),
    ("qwen_seq_dst_sft_lr1e5_general", "qwen_seq_dst_sdft_mix_general"),  # ... in the other order too
    ("qwen_seq_dst_sft_lr1e5_acc", "qwen_seq_dst_sdft_mix_acc"),
    ("qwen_seq_sft_lr1e5_probe", "qwen_seq_sft_probe"),  # 1e-5 kept more than 2e-5 and 5e-6
    ("qwen_seq_sft_lr1e5_probe", "qwen_seq_sft_lr5e6_probe"),
    ("qwen_tied_science_sft_lr1e5", "qwen_tied_science_sdft_mix"),  # as published: SDFT learned no science
    *(  # ... and SFT at 1e-5 kept more and ended higher on every skill in a row
        (f"qwen_tied_seq_sft_lr1e5_{metric}", f"qwen_tied_seq_sdft_mix_{metric}")
        for metric in ("general", "tooluse", "science", "dates")
    ),
    ("smollm_dates_ema_probe", "smollm_dates_live_probe"),  # the live teacher lost the most of the probe
    ("qwen_cpu_dates_ema_probe", "qwen_cpu_dates_live_probe"),
    ("qwen_cpu_tooluse_ema_probe", "qwen_cpu_tooluse_live_probe"),
    ("qwen_cpu_science_ema_probe", "qwen_cpu_science_live_probe"),
)


# "As much as": (claim, other, points) — the claim is at most `points` below the other. A pair in both
# directions states a tie ("learned dates as SFT did").
NOT_BELOW: tuple[tuple[str, str, int], ...] = (
    ("qwen_dates_sdft_mix", "qwen_dates_sft", 2),  # SDFT "learned dates as SFT did"
    ("qwen_dates_sft", "qwen_dates_sdft_mix", 2),
    ("qwen_dates_sft_lr1e5", "qwen_dates_sft", 2),  # SFT at 1e-5 "learned as much as 2e-5"
    ("qwen_science_sft_lr1e5", "qwen_science_sft", 2),
    ("qwen_tooluse_sft_lr1e5", "qwen_tooluse_sft", 2),
    ("qwen_cpu_tooluse_sdft_mix", "qwen_tooluse_sdft_mix", 2),  # "learned as on the H200"
    ("qwen_tooluse_sdft_mix", "qwen_cpu_tooluse_sdft_mix", 2),
    ("qwen_tied_dates_sdft_mix", "qwen_tied_dates_sft_lr1e5", 5),  # as published, "nearly as SFT at 1e-5"
    ("qwen_tied_dates_sdft_mix_probe", "qwen_tied_dates_sft_lr1e5_probe", 5),
    ("qwen_tied_science_sft_lr1e5", "qwen_tied_science_base", 0),  # SFT "stayed at the base's" science
    ("qwen_tied_science_base", "qwen_tied_science_sft_lr1e5", 0),
    ("smollm_dates_sft_lr1e5", "smollm_dates_sft", 5),  # at 135M "about as much of single skills"
    ("smollm_dates_sft", "smollm_dates_sft_lr1e5", 5),
    ("smollm_science_sft_lr1e5", "smollm_science_sft", 5),
    ("smollm_science_sft", "smollm_science_sft_lr1e5", 5),
    ("smollm_dates_frozen_probe", "smollm_dates_ema_probe", 5),  # frozen "kept the probe as ema did"
    ("smollm_dates_ema_probe", "smollm_dates_frozen_probe", 5),
    ("qwen_cpu_dates_frozen_probe", "qwen_cpu_dates_ema_probe", 5),
    ("qwen_cpu_dates_ema_probe", "qwen_cpu_dates_frozen_probe", 5),
    ("qwen_cpu_tooluse_frozen_probe", "qwen_cpu_tooluse_ema_probe", 5),
    ("qwen_cpu_tooluse_ema_probe", "qwen_cpu_tooluse_frozen_probe", 5),
    ("qwen_cpu_science_frozen_probe", "qwen_cpu_science_ema_probe", 5),
    ("qwen_cpu_science_ema_probe", "qwen_cpu_science_frozen_probe", 5),
)


def percent(value: float) -> int:
    """A fraction as a whole percentage, halves rounded up as a reader would (37.5 → 38), after
    rounding off float noise (a mean of 0.1667 and 0.5833 is 0.37499999... in binary)."""
    return int(Decimal(f"{100 * value:.6f}").quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _comparison_value(run: dict[str, Any], metric: str) -> float:
    field = {"task": "task_accuracy", "general": "general_score", "kl": "kl_from_base"}[metric]
    return run[field]


def _sequential_value(record: dict[str, Any], metric: str) -> float:
    last = record["rows"][-1]
    summary = {s["checkpoint_id"]: s for s in record["summaries"]}[last["checkpoint"]]
    if metric.startswith("skill:"):
        return last["accuracy"][metric.removeprefix("skill:")]
    return {
        "general": last["general_score"],
        "acc": summary["average_accuracy"],
        "forgetting": summary["forgetting"],
    }[metric]


def _picks(claim: Claim, record: dict[str, Any]) -> bool:
    if record.get("status") != "ok" or record["method"] != claim.method or record["seed"] not in claim.seeds:
        return False
    key = parse_key(record["key"])
    return (key.phase, key.model, key.subject, key.budget, key.limits) == (
        claim.phase,
        claim.model,
        claim.subject,
        claim.budget,
        claim.limits,
    )


def measure(claim: Claim, files: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The claim's number, its value per seed and the files it came from. A seed recorded in several
    files counts once, from the file written last (as in learning.md)."""
    kept: dict[tuple[str, Any], tuple[float, str, dict[str, Any]]] = {}
    for tag, data in files:
        records = data.get("sequential" if claim.phase == "sequential" else "runs", [])
        for record in records:
            if _picks(claim, record):
                _keep_latest(
                    kept, (record["method"], record["seed"]), (data.get("updated", 0.0), tag, record)
                )
    found = {seed for _, seed in kept}
    missing = [seed for seed in claim.seeds if seed not in found]
    if missing:
        raise ClaimError(
            f"claim {claim.name!r}: no ok {claim.phase} run of {claim.method} on {claim.model} "
            f"for seed(s) {missing} in the results"
        )
    by_seed = sorted(kept.values(), key=lambda entry: -1 if entry[2]["seed"] is None else entry[2]["seed"])
    value = _sequential_value if claim.phase == "sequential" else _comparison_value
    values = [value(record, claim.metric) for _, _, record in by_seed]
    return {
        "percent": percent(statistics.fmean(values)),
        "per_seed": [percent(v) for v in values],
        "seeds": [record["seed"] for _, _, record in by_seed],
        "files": sorted({f"learning-{tag}.json" for _, tag, _ in by_seed}),
    }


def measure_all(results: Path = RESULTS) -> dict[str, Any]:
    files = load_results(results)
    claims = {claim.name: measure(claim, files) for claim in CLAIMS}
    return {
        "about": "Generated by `python -m bench.learning_claims` from bench/results/learning-*.json; do not edit.",
        "claims": claims,
    }


def broken_relations(claims: dict[str, Any]) -> list[str]:
    """The stated directions that the numbers no longer bear out (a tie counts as broken)."""

    def at(name: str) -> int:
        return claims[name]["percent"]

    return [
        f"{larger} ({at(larger)} %) is not above {smaller} ({at(smaller)} %)"
        for larger, smaller in RELATIONS
        if not at(larger) > at(smaller)
    ] + [
        f"{name} ({at(name)} %) is more than {points} points below {other} ({at(other)} %)"
        for name, other, points in NOT_BELOW
        if at(name) < at(other) - points
    ]


def render(measured: dict[str, Any]) -> str:
    return json.dumps(measured, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    measured = measure_all()
    broken = broken_relations(measured["claims"])
    if broken:
        print("The form's wording no longer matches the results:\n  " + "\n  ".join(broken), file=sys.stderr)
        return 1
    MEASURED_JSON.parent.mkdir(parents=True, exist_ok=True)
    temp = MEASURED_JSON.with_suffix(".json.tmp")
    temp.write_text(render(measured), encoding="utf-8")
    temp.replace(MEASURED_JSON)
    print(f"wrote {MEASURED_JSON.relative_to(ROOT)} ({len(measured['claims'])} claims)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
