"""The learning benchmark's report: learning.md and learning.png, rebuilt from every learning-*.json.

Every recorded run appears, failures included. Comparison rows are grouped by (results file,
model, skill, budget) so that runs under different budgets are never averaged together; means
and sample standard deviations are over seeds. learning-notes.md, written by hand, is included
verbatim: it says what was run, what was not, and what the numbers mean.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench.learning_keys import parse_key, parse_limits
from bench.teacher_templates import template_name

# The paper's Table 1 (Qwen2.5-7B-Instruct, tool use; prior capabilities = mean of six benchmarks).
PAPER_TABLE1 = [
    ("base", 42.9, 65.5),
    ("SFT", 63.2, 56.0),
    ("DFT", 64.2, 60.8),
    ("SFT + re-invoke", 63.1, 63.7),
    ("SDFT", 70.6, 65.4),
]
# Paper numbers beside ours: (new task, prior capabilities) by our method name, per skill.
PAPER_BESIDE: dict[str, dict[str, tuple[float, float]]] = {
    "tooluse": {"base": (42.9, 65.5), "sft": (63.2, 56.0), "sdft-paper": (70.6, 65.4)},
    "science": {"sft": (66.2, 53.4), "sdft-paper": (70.2, 64.5)},
}
METHOD_ORDER = ["base", "sft", "sdft-paper", "sdft-frozen", "sdft-live", "trl-sdft"]


def load_results(out: Path) -> list[tuple[str, dict[str, Any]]]:
    files = []
    for path in sorted(out.glob("learning-*.json")):
        try:
            files.append((path.stem.removeprefix("learning-"), json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError):
            continue
    return files


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else None


def _pct(values: list[float]) -> str:
    if not values:
        return "–"
    mean, sd = _mean_sd(values)
    return f"{100 * mean:.1f}" + (f" ± {100 * sd:.1f}" if sd is not None else "")


def _budget_text(budget: dict[str, Any], *, lengths: list[int] | None = None) -> str:
    """`lengths`: the rollout limit of each skill, where the budget left it to the skills."""
    rollouts = budget["max_new_tokens"]
    if rollouts is None:
        limit = f"≤{'/'.join(str(n) for n in lengths)} tokens" if lengths else "≤ each skill's limit"
    else:
        limit = f"≤{rollouts} tokens"
    precision = ", bf16 autocast" if budget.get("dtype") == "bfloat16" else ""
    return (
        f"{budget['steps']} steps × {budget['batch_size']} prompts, lr {budget['lr']:g}, rollouts {limit}"
        + precision
    )


def _method_lr(method: str, budget_lr: float) -> float | None:
    """The learning rate a method trained at: its own where it sets one (sft-lr5e-6), else the budget's;
    None for the untrained base."""
    from bench.learning_methods import find_method  # imports torch: only when a report is written

    if method == "base":
        return None
    try:
        return find_method(method).overrides.get("lr", budget_lr)
    except ValueError:  # a method recorded by an older version of the benchmark
        return budget_lr


def _lr_text(lr: float | None) -> str:
    return "–" if lr is None else f"{lr:g}"


def _model_text(model: str, device: str | None) -> str:
    """The model, and the device where it is not the CPU (records before devices were recorded: CPU)."""
    return model if device in (None, "cpu") else f"{model} on {device}"


def _invocation_model_text(data: dict[str, Any]) -> str:
    """The model (and device) of a results file's invocation, for records that do not name them."""
    settings = data["invocation"]["settings"]
    return _model_text(settings["model"], settings.get("device"))


def _method_rank(name: str) -> tuple[int, str]:
    base = name.split(":", 1)[0]
    return (METHOD_ORDER.index(base) if base in METHOD_ORDER else len(METHOD_ORDER), name)


def _keep_latest(
    kept: dict[tuple[str, Any], tuple[float, str, dict[str, Any]]],
    seed_key: tuple[str, Any],
    entry: tuple[float, str, dict[str, Any]],
) -> None:
    """A (method, seed) recorded in more than one file counts once, from the file written last: a rerun
    of the same seed is the same measurement (training is deterministic per seed), not another sample."""
    if seed_key not in kept or entry[0] >= kept[seed_key][0]:
        kept[seed_key] = entry


def comparison_groups(
    files: list[tuple[str, dict[str, Any]]], phase: str
) -> dict[tuple[str, ...], list[dict]]:
    """Runs of one phase by (files, model, skill, budget, eval size): the runs of one budget are one
    table even when several processes or invocations wrote them to several files. A (method, seed)
    recorded in more than one file counts once (_keep_latest)."""
    by_budget: dict[tuple[Any, ...], dict[tuple[str, Any], tuple[float, str, dict[str, Any]]]] = {}
    for tag, data in files:
        updated = data.get("updated", 0.0)
        for run in data.get("runs", []):
            if run["phase"] != phase or run.get("status") == "skipped":  # not measured: every-run table only
                continue
            trained = [
                r
                for r in data["runs"]
                if r["phase"] == phase and r["skill"] == run["skill"] and r["method"] != "base"
            ]
            budget = run["budget"] if run["method"] != "base" or not trained else trained[0]["budget"]
            key = (
                _model_text(run["model"], run.get("device")),
                run["skill"],
                _budget_text(budget),
                run.get("task_n"),
            )
            runs = by_budget.setdefault(key, {})
            _keep_latest(runs, (run["method"], run["seed"]), (updated, tag, run))
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for (model, skill, budget, _), runs in by_budget.items():
        kept = sorted(runs.values(), key=lambda entry: entry[1])
        tags = ", ".join(dict.fromkeys(f"learning-{tag}.json" for _, tag, _ in kept))
        groups.setdefault((tags, model, skill, budget), []).extend(run for _, _, run in kept)
    return groups


def _problem(run: dict[str, Any]) -> str:
    """Why a run has no numbers: its error, or why it was skipped."""
    return str(run.get("error") or run.get("reason") or "")


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method: means over its ok seeds, and the failures counted."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_method.setdefault(run["method"], []).append(run)
    rows = []
    for method in sorted(by_method, key=_method_rank):
        method_runs = by_method[method]
        ok = [run for run in method_runs if run["status"] == "ok"]
        rows.append(
            {
                "method": method,
                "runs": method_runs,
                "ok": ok,
                "seeds": [run["seed"] for run in ok],
                "task": [run["task_accuracy"] for run in ok],
                "general": [run["general_score"] for run in ok],
                "kl": [run["kl_from_base"] for run in ok],
                "train_s": [run["train_wall_s"] for run in ok],
                "task_n": ok[0]["task_n"] if ok else None,
                "problems": [
                    f"{run['status']}: {_problem(run)[:160]}" for run in method_runs if run["status"] != "ok"
                ]
                + [
                    f"seed {run['seed']}: monitors warned ({_monitor_names(run)})"
                    for run in ok
                    if run.get("monitor_warnings")
                ],
            }
        )
    return rows


def teacher_section(files: list[tuple[str, dict[str, Any]]]) -> list[str]:
    checks = [(tag, check) for tag, data in files for check in data.get("teacher_checks", [])]
    lines = [
        "## Teacher check: does the starting model answer with the demonstration in context?",
        "",
        "SDFT can only teach what its teacher does: greedy accuracy on the first train rows, the student",
        "prompt alone (`student`) against the teacher prompt under each template (`+tagged`: science's",
        "demonstration in the graded `<answer>` format instead of the paper's sentence).",
        "",
    ]
    if not checks:
        return [*lines, "No teacher check recorded yet.", ""]
    lines += [
        "| file | model | skill | prompt | rows | ≤tokens | accuracy % | first output |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tag, check in checks:
        first = check["samples"][0][:70].replace("|", "\\|").replace("\n", " ⏎ ") if check["samples"] else ""
        lines.append(
            f"| {tag} | {check['model']} | {check['skill']} | {check['prompt']} | {check['n']} "
            f"| {check['max_new_tokens']} | {100 * check['accuracy']:.0f} | {first} |"
        )
    return [*lines, ""]


def comparison_section(files: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = ["## Comparison: one skill from the base model", ""]
    groups = comparison_groups(files, "comparison")
    if not groups:
        return [*lines, "No comparison run recorded yet.", ""]
    for (tags, model, skill, budget), runs in groups.items():
        rows = summarise(runs)
        n = next((row["task_n"] for row in rows if row["task_n"]), "?")
        lines += [
            f"### {skill} on {model} ({budget}; eval n={n}; {'files' if ',' in tags else 'file'} {tags})",
            "",
            "| method | seeds | lr | new-task acc % | general probe % | KL from base | train s | paper 7B task / prior | notes |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        trained_lr = {  # recorded with the run where it was (not for TRL), else the method's table entry
            run["method"]: run.get("settings", {}).get("lr")
            or _method_lr(run.get("variant", run["method"]), run["budget"]["lr"])
            for run in runs
        }
        for row in rows:
            paper = PAPER_BESIDE.get(skill, {}).get(row["method"])
            kl = f"{statistics.fmean(row['kl']):.4f}" if row["kl"] else "–"
            train_s = f"{statistics.fmean(row['train_s']):.0f}" if row["train_s"] else "–"
            seeds = ",".join("–" if s is None else str(s) for s in row["seeds"]) or "–"
            lines.append(
                f"| {row['method']} | {seeds} | {_lr_text(trained_lr[row['method']])} | {_pct(row['task'])} | {_pct(row['general'])} | {kl} | {train_s} "
                f"| {f'{paper[0]} / {paper[1]}' if paper else ''} | {'; '.join(row['problems'])} |"
            )
        lines.append("")
    return lines


def tuning_section(files: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = ["## Tuning on train's held-out slice (never on eval)", ""]
    groups = comparison_groups(files, "tuning")
    if not groups:
        return [*lines, "No tuning run recorded yet.", ""]
    for (tags, model, skill, budget), runs in groups.items():
        named = tags.split(", ")
        choice = next(
            (data["best"] for tag, data in files if f"learning-{tag}.json" in named and data.get("best")),
            None,
        )
        lines += [
            f"### {skill} on {model} ({budget}; {'files' if len(named) > 1 else 'file'} {tags})",
            "",
            "| candidate | settings | holdout task % | general % | KL from base | train s | status |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for run in sorted(runs, key=lambda r: _method_rank(r["method"])):
            ok = run["status"] == "ok"
            settings = ", ".join(
                f"{k}={template_name(v) if k == 'teacher_template' else v}"
                for k, v in run.get("settings", {}).items()
            )
            lines.append(
                f"| {run['method']} | {settings} | {_pct([run['task_accuracy']]) if ok else '–'} "
                f"| {_pct([run['general_score']]) if ok else '–'} | {run['kl_from_base']:.4f} | {run['train_wall_s']:.0f} | ok |"
                if ok
                else f"| {run['method']} | {settings} | – | – | – | – | {run['status']}: {_problem(run)[:160]} |"
            )
        if choice:
            lines += ["", f"Chosen as `best`: **{choice['variant']}** ({choice['criterion']})."]
        lines.append("")
    return lines


def _monitor_names(row: dict[str, Any]) -> str:
    """The monitors that warned while this checkpoint trained ('–' when not recorded or none)."""
    warnings = row.get("monitor_warnings") or []
    return ", ".join(sorted({str(warning.get("monitor", "?")) for warning in warnings})) or "–"


def _limits_text(record: dict[str, Any]) -> str:
    """A sequential record's eval sizes: its `limits`, or for records written before it had them, the
    end of its key ('t<train>e<eval>p<probe>')."""
    if "limits" in record:
        eval_limit, probe = record["limits"]["eval"], record["limits"]["probe"]
    else:
        limits = parse_key(record["key"]).limits
        if (parsed := parse_limits(limits)) is None:
            return limits
        eval_limit, probe = parsed["eval"], parsed["probe"]
    rows = "every eval row" if eval_limit is None else f"eval ≤{eval_limit} rows per skill"
    return f"{rows}, probe {probe} items"


def sequential_over_seeds(files: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Where a sequential run has more than one seed: where each method ended, mean ± sd over seeds.
    Records are grouped by their key less the method and seed (model, budget, order, eval sizes); a
    seed recorded in several files counts once (_keep_latest), as in the comparison tables."""
    groups: dict[tuple[str, ...], dict[tuple[str, Any], tuple[float, str, dict[str, Any]]]] = {}
    for tag, data in files:
        updated = data.get("updated", 0.0)
        for record in data.get("sequential", []):
            if record["status"] != "ok":
                continue
            key = parse_key(record["key"])
            group = groups.setdefault((key.model, key.budget, key.subject, key.limits), {})
            _keep_latest(group, (record["method"], record["seed"]), (updated, tag, record))
    by_tag = dict(files)
    lines: list[str] = []
    for entries in groups.values():
        by_method: dict[str, list[dict[str, Any]]] = {}
        for _, _, record in entries.values():
            by_method.setdefault(record["method"], []).append(record)
        if all(len(seeds) < 2 for seeds in by_method.values()):
            continue
        _, first_tag, first = next(iter(entries.values()))
        skills, model = first["skills"], _invocation_model_text(by_tag[first_tag])
        lengths = [row["max_new_tokens"] for row in first["rows"] if row.get("max_new_tokens")]
        tags = ", ".join(sorted(dict.fromkeys(f"learning-{tag}.json" for _, tag, _ in entries.values())))
        lines += [
            f"### Over seeds: {model}, {' → '.join(skills)} ({_budget_text(first['budget'], lengths=lengths)} "
            f"per skill; {_limits_text(first)}; files {tags})",
            "",
            "Where each method ended, after the last skill.",
            "",
            "| method | seeds | lr | "
            + " | ".join(f"{s} %" for s in skills)
            + " | general % | KL | ACC % | forgetting pts |",
            "| --- " * (len(skills) + 7) + "|",
        ]
        for method in sorted(by_method, key=_method_rank):
            records = sorted(by_method[method], key=lambda r: r["seed"])
            last_rows = [record["rows"][-1] for record in records]
            last_summaries = [
                {s["checkpoint_id"]: s for s in record["summaries"]}[row["checkpoint"]]
                for record, row in zip(records, last_rows, strict=True)
            ]
            kl_mean, kl_sd = _mean_sd([row["kl_from_base"] for row in last_rows])
            forgetting = [s["forgetting"] for s in last_summaries if s["forgetting"] is not None]
            lines.append(
                f"| {method} | {','.join(str(record['seed']) for record in records)} "
                f"| {_lr_text(_method_lr(method, first['budget']['lr']))} | "
                + " | ".join(_pct([row["accuracy"][s] for row in last_rows]) for s in skills)
                + f" | {_pct([row['general_score'] for row in last_rows])} | {kl_mean:.4f}"
                + (f" ± {kl_sd:.4f}" if kl_sd is not None else "")
                + f" | {_pct([s['average_accuracy'] for s in last_summaries])}"
                + f" | {_pct(forgetting) if forgetting else '–'} |"
            )
        lines.append("")
    return lines


def sequential_section(files: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = [
        "## Sequential: skills one after another on one model, regression matrix and continual-learning summary",
        "",
    ]
    records = [(tag, record) for tag, data in files for record in data.get("sequential", [])]
    if not records:
        return [*lines, "No sequential run recorded yet.", ""]
    lines += sequential_over_seeds(files)
    by_tag = dict(files)
    for tag, record in records:
        model = _invocation_model_text(by_tag[tag])
        lengths = [row["max_new_tokens"] for row in record["rows"] if row.get("max_new_tokens")]
        budget = {**record["budget"], "lr": _method_lr(record["method"], record["budget"]["lr"])}
        lines += [
            f"### {record['method']} on {model}, {' → '.join(record['skills'])}, seed {record['seed']} ({_budget_text(budget, lengths=lengths)} per skill; file learning-{tag}.json)",
            "",
        ]
        if record["status"] != "ok":
            lines += [f"{record['status'].capitalize()}: {_problem(record)}", ""]
            continue
        skills = record["skills"]
        summaries = {summary["checkpoint_id"]: summary for summary in record["summaries"]}
        lines += [
            "| checkpoint | "
            + " | ".join(f"{s} %" for s in skills)
            + " | general % | KL | ACC % | BWT pts | forgetting pts | monitor warnings |",
            "| --- " * (len(skills) + 7) + "|",
        ]
        for row in record["rows"]:
            summary = summaries[row["checkpoint"]]

            def points(value: float | None) -> str:
                return "–" if value is None else f"{100 * value:+.1f}"

            acc = summary["average_accuracy"]
            name = "base" if row["learned"] is None else f"after {row['learned']}"
            lines.append(
                f"| {name} | "
                + " | ".join(f"{100 * row['accuracy'][s]:.1f}" for s in skills)
                + f" | {100 * row['general_score']:.1f} | {row['kl_from_base']:.4f} | "
                + ("–" if acc is None else f"{100 * acc:.1f}")
                + f" | {points(summary['backward_transfer'])} | {points(summary['forgetting'])} | "
                + _monitor_names(row)
                + " |"
            )
        lines.append("")
    return lines


def invocations_section(files: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Each results file's last invocation: its wall time against its time budget, and what it skipped."""
    lines = [
        "## Invocations",
        "",
        "Wall time of each file's last invocation (model loading excluded) and the runs it left out because",
        "they were expected to end past its time budget; those are listed under every recorded run.",
        "",
        "| file | arguments | wall min | time budget min | runs ok | failed | skipped (time budget) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tag, data in files:
        invocation = data.get("invocation", {})
        records = [*data.get("runs", []), *data.get("sequential", [])]
        count = {
            status: sum(r["status"] == status for r in records) for status in ("ok", "failed", "skipped")
        }
        wall, budget = invocation.get("wall_s"), invocation.get("time_budget_s")
        arguments = " ".join(invocation.get("argv", [])) or "(none: FULL)"
        lines.append(
            f"| learning-{tag}.json | `{arguments}` | {f'{wall / 60:.1f}' if wall else '–'} "
            f"| {f'{budget / 60:.0f}' if budget else '–'} | {count['ok']} | {count['failed']} | {count['skipped']} |"
        )
    return [*lines, ""]


def all_runs_section(files: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = [
        "## Every recorded run",
        "",
        "| file | phase | skill | method | seed | budget | status | task % | general % | KL | train s | eval s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tag, data in files:
        for run in data.get("runs", []):
            ok = run["status"] == "ok"
            budget = run["budget"]
            lines.append(
                f"| {tag} | {run['phase']} | {run['skill']} | {run['method']} | {run['seed']} "
                f"| {budget['steps']}×{budget['batch_size']} lr {budget['lr']:g} | {run['status']} "
                + (
                    f"| {100 * run['task_accuracy']:.1f} | {100 * run['general_score']:.1f} | {run['kl_from_base']:.4f} "
                    f"| {run['train_wall_s']:.0f} | {run['eval_wall_s']:.0f} |"
                    if ok
                    else f"| {_problem(run)[:120]} | | | | |"
                )
            )
    return [*lines, ""]


def paper_section() -> list[str]:
    lines = [
        "## The paper's Table 1 (Qwen2.5-7B-Instruct, tool use), for reference",
        "",
        "| method | tool-use accuracy | prior capabilities |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {name} | {task} | {prior} |" for name, task, prior in PAPER_TABLE1]
    lines += [
        "",
        'Science (same model): SFT 66.2 / 53.4, SDFT 70.2 / 64.5. Our "general probe" is Apprentice\'s own',
        "300-prompt probe (a subset, see each group), not the paper's six benchmarks: compare directions, not levels.",
        "",
    ]
    return lines


# A point from fewer evaluated rows says little (the memory measurements evaluate 2); its table stays.
PLOT_MIN_ROWS = 10


def _few_rows(runs: list[dict[str, Any]]) -> bool:
    return max((run.get("task_n") or 0 for run in runs), default=0) < PLOT_MIN_ROWS


def plotted_groups(
    groups: dict[tuple[str, ...], list[dict[str, Any]]],
) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """The comparison groups the plot draws: a real model's, evaluated on PLOT_MIN_ROWS rows or more;
    every group when none is (a quick run on the tiny model)."""
    real = {key: runs for key, runs in groups.items() if key[1] != "tiny" and not _few_rows(runs)}
    return real or groups


def write_plot(files: list[tuple[str, dict[str, Any]]], path: Path) -> bool:
    """Task accuracy against general score, one point per method (mean over seeds, bars = sd), one panel per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = plotted_groups(comparison_groups(files, "comparison"))
    if not groups:
        return False
    columns = min(2, len(groups))
    rows = (len(groups) + columns - 1) // columns
    # constrained layout leaves room for the suptitle, which tight_layout let overlap the top panels' titles
    figure, axes = plt.subplots(
        rows, columns, figsize=(6.5 * columns, 5 * rows), squeeze=False, layout="constrained"
    )
    # One marker and colour per method across all panels, so a method reads the same everywhere.
    markers = "osD^vP*Xh"
    summaries = {key: summarise(runs) for key, runs in groups.items()}
    methods = list(dict.fromkeys(row["method"] for rows in summaries.values() for row in rows))
    # tab20's ten strong colours first, then its ten pale ones: no two of up to 20 methods share a colour
    tab20 = plt.get_cmap("tab20").colors
    colours = tab20[0::2] + tab20[1::2]
    for axis, ((_tag, model, skill, budget), rows) in zip(axes.flat, summaries.items(), strict=False):
        for row in rows:
            if not row["ok"]:
                continue
            index = methods.index(row["method"])
            task_mean, task_sd = _mean_sd([100 * v for v in row["task"]])
            general_mean, general_sd = _mean_sd([100 * v for v in row["general"]])
            axis.errorbar(
                general_mean,
                task_mean,
                xerr=general_sd or 0,
                yerr=task_sd or 0,
                fmt=markers[index % len(markers)],
                color=colours[index % len(colours)],
                capsize=3,
                markersize=8,
                alpha=0.8,
                label=f"{row['method']} (n={len(row['ok'])})",
            )
        axis.set_xlim(-3, 103)
        axis.set_ylim(-3, 103)
        if axis.get_legend_handles_labels()[0]:  # a skill whose every run failed has no points
            axis.legend(fontsize=7, loc="best")
        axis.set_xlabel("general probe score %")
        axis.set_ylabel(f"{skill} accuracy %")
        axis.set_title(f"{skill} · {model}\n{budget}", fontsize=9)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(groups) :]:
        axis.set_visible(False)
    figure.suptitle("New-task accuracy vs general score (up and right is better)")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def write_report(out: Path) -> str:
    """Redraws learning.png and rewrites learning.md from `out`'s results and notes; returns the markdown."""
    files = load_results(out)
    text = render_report(out, files, with_plot=write_plot(files, out / "learning.png"))
    (out / "learning.md").write_text(text, encoding="utf-8")
    return text


def render_report(out: Path, files: list[tuple[str, dict[str, Any]]], *, with_plot: bool) -> str:
    """learning.md's text for `files` (load_results(out)) and out's notes: what a committed learning.md must equal."""
    lines = [
        "# Learning benchmark: SDFT vs SFT",
        "",
        "Generated by `bench/learning.py` from every `learning-*.json` in this folder (do not edit by hand;",
        "the hand-written notes come from `learning-notes.md`). Accuracy and general score in %, mean ± sample",
        "standard deviation over seeds; KL = mean per-token KL(model ‖ base) on the model's own greedy probe answers.",
        "",
    ]
    notes = out / "learning-notes.md"
    if notes.exists():
        lines += [notes.read_text(encoding="utf-8").strip(), ""]
    if with_plot:
        lines += ["![task accuracy vs general score](learning.png)", ""]
        groups = comparison_groups(files, "comparison")
        plotted = plotted_groups(groups)
        if any(key not in plotted and _few_rows(runs) for key, runs in groups.items()):
            lines += [
                f"The plot leaves out runs evaluated on fewer than {PLOT_MIN_ROWS} rows; their tables are below.",
                "",
            ]
    lines += comparison_section(files)
    lines += teacher_section(files)
    lines += paper_section()
    lines += tuning_section(files)
    lines += sequential_section(files)
    lines += invocations_section(files)
    lines += all_runs_section(files)
    return "\n".join(lines)
