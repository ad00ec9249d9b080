import { useEffect, useState, type FormEvent } from "react";
import { ApiError } from "../../client/api";
import { Field } from "../../components/Field";
import { ErrorTable } from "../skills/datasets/RowTables";
import { defaultSkipTokens } from "../skills/SkillForm";
import { pct, perSeed, seedCount, value } from "../../lib/measured";
import { useDatasetVersions } from "../../queries/datasets";
import { useSkills } from "../../queries/skills";
import type { JobCreate } from "../../queries/tracks";

type Config = NonNullable<JobCreate["config"]>;

/**
 * Options shown as fields; empty ones are omitted so the engine's default applies. Skipped tokens and
 * the learning rate have no fixed placeholder: their defaults depend on the skill's template and on
 * the method (`placeholder` below).
 */
const NUMBER_FIELDS: { key: keyof Config; label: string; placeholder?: string; step?: string; hint?: string }[] = [
  { key: "steps", label: "Steps", placeholder: "2 epochs", hint: "optimizer steps; empty trains 2 epochs" },
  { key: "batch_size", label: "Batch size", placeholder: "4", hint: "prompts per optimizer step" },
  { key: "lr", label: "Learning rate", step: "any", hint: "empty: 2e-5 for SDFT (the paper's); SFT 1e-5 from 0.3B parameters, else 2e-5" },
  { key: "ema_rate", label: "EMA rate", placeholder: "0.01", step: "any", hint: "teacher ← (1 − rate)·teacher + rate·student" },
  { key: "skip_first_tokens", label: "Skipped tokens", hint: "first completion tokens left out of the loss; empty: 3 with the paper's template, else 0" },
  { key: "max_new_tokens", label: "Max new tokens", placeholder: "256" },
  { key: "trace_every", label: "Trace every", placeholder: "0 = never", hint: "steps between per-token traces (token inspector)" },
  { key: "replay_fraction", label: "Replay fraction", placeholder: "0", step: "any", hint: "share of each batch replayed from the track's earlier skills" },
  { key: "general_mix", label: "General mix", placeholder: "auto", step: "any", hint: "share of built-in general prompts kept close to the start (SDFT); empty: 0.25 from 0.3B parameters, else 0" },
  { key: "lora_rank", label: "LoRA rank", placeholder: "full fine-tuning" },
  { key: "num_gpus", label: "GPUs", placeholder: "1", hint: "data parallel over this many GPUs of one worker; must divide the batch size" },
];

export function QueueJobForm({
  onSubmit,
  onCancel,
  pending,
  error,
  initialSkillId,
}: {
  onSubmit: (body: JobCreate) => void;
  onCancel: () => void;
  pending: boolean;
  error: unknown;
  initialSkillId?: number;
}) {
  const skills = useSkills();
  const [skillId, setSkillId] = useState<number | null>(initialSkillId ?? null);
  const versions = useDatasetVersions(skillId ?? 0);
  const [versionId, setVersionId] = useState<number | null>(null);
  const [method, setMethod] = useState<"sdft" | "sft">("sdft");
  const [teacher, setTeacher] = useState("");
  const [divergence, setDivergence] = useState("");
  const [numbers, setNumbers] = useState<Record<string, string>>({ trace_every: "5" });
  const [extra, setExtra] = useState("");
  const [evaluate, setEvaluate] = useState(true);
  const [monitorStop, setMonitorStop] = useState(false);
  const [shardWeights, setShardWeights] = useState(false);
  const [evalTokens, setEvalTokens] = useState("");
  const [probeItems, setProbeItems] = useState("");
  const [localError, setLocalError] = useState<string | null>(null);

  useEffect(() => {
    if (skillId === null && skills.data?.[0]) setSkillId(skills.data[0].id);
  }, [skills.data, skillId]);
  const versionList = skillId === null ? [] : (versions.data ?? []);
  useEffect(() => {
    // Default to the newest version of the chosen skill.
    const newest = [...versionList].sort((a, b) => b.version - a.version)[0];
    setVersionId(newest?.id ?? null);
  }, [skillId, versions.data]); // eslint-disable-line react-hooks/exhaustive-deps

  const severalGpus = Number(numbers.num_gpus?.trim() || "1") > 1;
  const skillTemplate = skills.data?.find((skill) => skill.id === skillId)?.teacher_template;
  // What the engine does with an empty field depends on the skill's template and on the method.
  const placeholder = (field: (typeof NUMBER_FIELDS)[number]) => {
    if (field.key === "skip_first_tokens") return `${defaultSkipTokens(skillTemplate)} (this skill's template)`;
    if (field.key === "lr") return method === "sft" ? "auto" : "2e-5"; // SFT's depends on the model's size
    return field.placeholder;
  };

  function submit(event: FormEvent) {
    event.preventDefault();
    if (skillId === null || versionId === null) {
      setLocalError("Choose a skill with at least one uploaded version.");
      return;
    }
    let config: Record<string, unknown> = {};
    if (extra.trim()) {
      try {
        const parsed: unknown = JSON.parse(extra);
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
        config = parsed as Record<string, unknown>;
      } catch {
        setLocalError('Other options must be a JSON object, e.g. {"warmup_ratio": 0.1}.');
        return;
      }
    }
    for (const field of NUMBER_FIELDS) {
      const raw = numbers[field.key]?.trim();
      if (raw) config[field.key] = Number(raw);
    }
    if (method === "sdft" && teacher) config.teacher = teacher;
    if (method === "sdft" && divergence) config.divergence = divergence;
    if (method === "sdft" && monitorStop) config.monitor_stop = true;
    if (severalGpus && shardWeights) config.shard_weights = true;
    setLocalError(null);
    const evaluation: NonNullable<JobCreate["evaluation"]> = {};
    if (evalTokens.trim()) evaluation.max_new_tokens = Number(evalTokens);
    if (probeItems.trim()) evaluation.general_probe_items = Number(probeItems);
    onSubmit({ skill_id: skillId, dataset_version_id: versionId, method, config: config as Config, evaluate, evaluation });
  }

  const apiError = error instanceof ApiError ? error : null;
  const sdftOnly = new Set<keyof Config>(["ema_rate", "skip_first_tokens", "replay_fraction", "general_mix"]);

  return (
    <form className="stack" onSubmit={submit} aria-label="Queue a skill" noValidate>
      <div className="grid-2">
        <Field label="Skill">
          <select value={skillId ?? ""} onChange={(event) => setSkillId(Number(event.target.value) || null)}>
            {(skills.data ?? []).map((skill) => (
              <option key={skill.id} value={skill.id}>
                {skill.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Dataset version" hint={versionList.length === 0 && skillId !== null && !versions.isPending ? "this skill has no uploads yet" : undefined}>
          <select value={versionId ?? ""} onChange={(event) => setVersionId(Number(event.target.value) || null)} disabled={versionList.length === 0}>
            {[...versionList]
              .sort((a, b) => b.version - a.version)
              .map((version) => (
                <option key={version.id} value={version.id}>
                  v{version.version} · {version.n_train} train / {version.n_eval} eval · {version.sha256.slice(0, 8)}
                </option>
              ))}
          </select>
        </Field>
      </div>
      <fieldset className="segmented">
        <legend>Method</legend>
        <label>
          <input type="radio" name="method" value="sdft" checked={method === "sdft"} onChange={() => setMethod("sdft")} /> SDFT
          <span className="hint"> self-distillation: the student learns from its own samples, scored by a teacher that sees the demonstration</span>
        </label>
        <label>
          <input type="radio" name="method" value="sft" checked={method === "sft"} onChange={() => setMethod("sft")} /> SFT
          <span className="hint"> plain supervised fine-tuning on the demonstrations (the baseline)</span>
        </label>
      </fieldset>
      {method === "sdft" && (
        // What our own benchmark measured: users choosing SDFT should know. The numbers come from the results
        // files (lib/measured); the wording's directions are checked against them by tests/bench/test_learning_claims.py.
        <div className="notice warn small measured" role="note" aria-label="What we measured">
          <p>
            <strong>Measured</strong> (bench/results/learning.md, {seedCount("smollm_dates_sft")} unless stated). The
            paper's advantage was measured at 7B: compare both methods on your model with the regression matrix, and check
            the dataset's pre-flight report first.
          </p>
          <ul>
            <li>
              <strong>SmolLM2-135M:</strong> SFT learned more than SDFT on every skill (dates {pct("smollm_dates_sft")}{" "}
              against {pct("smollm_dates_sdft")}) and kept more of the general probe ({pct("smollm_dates_sft_probe")} against{" "}
              {pct("smollm_dates_sdft_probe")}).
            </li>
            <li>
              <strong>Qwen2.5-0.5B, one skill:</strong> SDFT with its defaults (a quarter of general prompts from 0.3B
              parameters) learned dates as SFT did ({pct("qwen_dates_sdft_mix")}) and kept {pct("qwen_dates_sdft_mix_probe")}{" "}
              of the general probe against {pct("qwen_dates_sft_probe")} for SFT at 2e-5 (base {pct("qwen_dates_base_probe")}),
              but SFT at lr 5e-6 kept {pct("qwen_dates_sft_lr5e6_probe")}; on tool use SFT reached {pct("qwen_tooluse_sft")} (
              {pct("qwen_tooluse_sft_lr1e5")} at 1e-5, its default from 0.3B), SDFT {pct("qwen_tooluse_sdft_mix")} (base{" "}
              {pct("qwen_tooluse_base")}); on the CPU SDFT learned as much ({pct("qwen_cpu_tooluse_sdft_mix")}) and kept{" "}
              {pct("qwen_cpu_tooluse_sdft_mix_probe")} of the general probe ({perSeed("qwen_cpu_tooluse_sdft_mix_probe")})
              against {pct("qwen_tooluse_sft_lr1e5_probe")} for SFT at 1e-5 (base {pct("qwen_cpu_tooluse_base_probe")}).
            </li>
            <li>
              <strong>Qwen2.5-0.5B, three skills in a row</strong> ({seedCount("qwen_seq_sdft_mix_probe")} each): SDFT kept{" "}
              {pct("qwen_seq_sdft_mix_probe")} of the probe ({perSeed("qwen_seq_sdft_mix_probe")}) and learned{" "}
              {value("qwen_seq_sdft_mix_tooluse")} / {value("qwen_seq_sdft_mix_science")} / {pct("qwen_seq_sdft_mix_dates")}{" "}
              of the skills; SFT at 1e-5, its default from 0.3B, kept {pct("qwen_seq_sft_lr1e5_probe")} and learned{" "}
              {value("qwen_seq_sft_lr1e5_tooluse")} / {value("qwen_seq_sft_lr1e5_science")} /{" "}
              {pct("qwen_seq_sft_lr1e5_dates")} (at 2e-5 it kept {pct("qwen_seq_sft_probe")}, {seedCount("qwen_seq_sft_probe")}).
              With dates first SDFT kept {pct("qwen_seq_dst_sdft_mix_general")} of the probe at{" "}
              {pct("qwen_seq_dst_sdft_mix_acc")} average accuracy ({seedCount("qwen_seq_dst_sdft_mix_general")}), SFT{" "}
              {pct("qwen_seq_dst_sft_lr1e5_general")} at {pct("qwen_seq_dst_sft_lr1e5_acc")} (
              {seedCount("qwen_seq_dst_sft_lr1e5_general")}).
            </li>
            <li>
              <strong>Qwen2.5-0.5B as published:</strong> the runs above used our first conversion of its weights, whose
              output head was a second copy of the embedding (630M parameters, not 494M). On the published weights (
              {seedCount("qwen_tied_dates_sdft_mix")} each, CPU) SDFT learned dates nearly as SFT at 1e-5 did (
              {pct("qwen_tied_dates_sdft_mix")} against {pct("qwen_tied_dates_sft_lr1e5")}, probe{" "}
              {pct("qwen_tied_dates_sdft_mix_probe")} against {pct("qwen_tied_dates_sft_lr1e5_probe")}, base{" "}
              {pct("qwen_tied_dates_base_probe")}) and, in 8 steps, no science: {pct("qwen_tied_science_sdft_mix")} (its
              answers never reached the answer tag, often one sentence repeated), where SFT stayed at the base's{" "}
              {pct("qwen_tied_science_sft_lr1e5")}. Three skills in a row ({seedCount("qwen_tied_seq_sdft_mix_general")}{" "}
              each): SDFT kept {pct("qwen_tied_seq_sdft_mix_general")} of the probe and ended at{" "}
              {value("qwen_tied_seq_sdft_mix_tooluse")} / {value("qwen_tied_seq_sdft_mix_science")} /{" "}
              {pct("qwen_tied_seq_sdft_mix_dates")}, SFT at 1e-5 kept {pct("qwen_tied_seq_sft_lr1e5_general")} and ended
              at {value("qwen_tied_seq_sft_lr1e5_tooluse")} / {value("qwen_tied_seq_sft_lr1e5_science")} /{" "}
              {pct("qwen_tied_seq_sft_lr1e5_dates")}.
            </li>
          </ul>
        </div>
      )}
      {method === "sft" && (
        // The learning rate decided how much SFT learned and forgot in our benchmark, differently by size:
        // users should see why its default follows the model's size.
        <p className="notice small" role="note" aria-label="What we measured for SFT">
          Measured (bench/results/learning.md): left empty, SFT's learning rate follows the model's size. From 0.3B
          parameters it is 1e-5: on Qwen2.5-0.5B it learned as much as 2e-5 ({seedCount("qwen_dates_sft_lr1e5")}: dates{" "}
          {pct("qwen_dates_sft_lr1e5")}, science {pct("qwen_science_sft_lr1e5")}, tool use {pct("qwen_tooluse_sft_lr1e5")}{" "}
          against {pct("qwen_tooluse_sft")}) and kept more of the general probe ({pct("qwen_dates_sft_lr1e5_probe")} against{" "}
          {pct("qwen_dates_sft_probe")} after dates, base {pct("qwen_dates_base_probe")}); after three skills in a row 2e-5
          kept {pct("qwen_seq_sft_probe")} of it ({seedCount("qwen_seq_sft_probe")}), 1e-5 {pct("qwen_seq_sft_lr1e5_probe")}{" "}
          ({seedCount("qwen_seq_sft_lr1e5_probe")}), 5e-6 {pct("qwen_seq_sft_lr5e6_probe")} (
          {seedCount("qwen_seq_sft_lr5e6_probe")}). Below 0.3B it is 2e-5: on SmolLM2-135M 1e-5 learned about as much of
          single skills but less of three in a row at 12 steps each (science {pct("smollm_seq_sft_lr1e5_science")} against{" "}
          {pct("smollm_seq_sft_science")}, probe {pct("smollm_seq_sft_lr1e5_probe")} against {pct("smollm_seq_sft_probe")};{" "}
          {seedCount("smollm_seq_sft_lr1e5_probe")}), and 5e-6 much less (dates {pct("smollm_dates_sft_lr5e6")} against{" "}
          {pct("smollm_dates_sft")}).
        </p>
      )}
      {method === "sdft" && (
        <div className="grid-2">
          <Field
            label="Teacher"
            hint={
              `ema is the default (the paper's). Measured with the paper's other settings (${seedCount("qwen_cpu_dates_ema_probe")} ` +
              `each): frozen kept the general probe as ema did (Qwen2.5-0.5B, first conversion: dates ${pct("qwen_cpu_dates_frozen_probe")} against ` +
              `${pct("qwen_cpu_dates_ema_probe")}, tool use ${pct("qwen_cpu_tooluse_frozen_probe")} against ` +
              `${pct("qwen_cpu_tooluse_ema_probe")}, science ${pct("qwen_cpu_science_frozen_probe")} against ` +
              `${pct("qwen_cpu_science_ema_probe")}), live lost the most of it (dates ${pct("qwen_cpu_dates_live_probe")}, tool use ` +
              `${pct("qwen_cpu_tooluse_live_probe")}, science ${pct("qwen_cpu_science_live_probe")}; SmolLM2-135M dates ` +
              `${pct("smollm_dates_live_probe")} against ` +
              `${pct("smollm_dates_ema_probe")})`
            }
          >
            <select value={teacher} onChange={(event) => setTeacher(event.target.value)}>
              <option value="">ema (default)</option>
              <option value="frozen">frozen</option>
              <option value="live">live</option>
            </select>
          </Field>
          <Field label="Divergence" hint="forward KL(teacher ‖ student) is what the paper's numbers use">
            <select value={divergence} onChange={(event) => setDivergence(event.target.value)}>
              <option value="">forward_kl (default)</option>
              <option value="reverse_kl">reverse_kl</option>
              <option value="jsd">jsd</option>
            </select>
          </Field>
        </div>
      )}
      <div className="grid-3">
        {NUMBER_FIELDS.filter((field) => method === "sdft" || !sdftOnly.has(field.key)).map((field) => (
          <Field key={field.key} label={field.label} hint={field.hint}>
            <input
              type="number"
              step={field.step ?? "1"}
              min={0}
              placeholder={placeholder(field)}
              value={numbers[field.key] ?? ""}
              onChange={(event) => setNumbers({ ...numbers, [field.key]: event.target.value })}
            />
          </Field>
        ))}
      </div>
      {severalGpus && (
        <label className="check">
          <input type="checkbox" checked={shardWeights} onChange={(event) => setShardWeights(event.target.checked)} /> Split the
          weights, gradients and optimizer state over the GPUs (FSDP), for a model whose full fine-tuning does not fit one GPU
        </label>
      )}
      {method === "sdft" && (
        <label className="check">
          <input type="checkbox" checked={monitorStop} onChange={(event) => setMonitorStop(event.target.checked)} /> Stop the run at the
          first failure-mode warning (teacher-phrase leakage, entropy or length collapse, drift)
        </label>
      )}
      <Field label="Other options (JSON)" optional hint="any other training option, e.g. {&quot;warmup_ratio&quot;: 0.05, &quot;lora_rank&quot;: 16}">
        <textarea rows={2} value={extra} onChange={(event) => setExtra(event.target.value)} placeholder="{}" />
      </Field>
      <label className="check">
        <input type="checkbox" checked={evaluate} onChange={(event) => setEvaluate(event.target.checked)} /> Evaluate the new checkpoint on every
        skill of the track and the general probe afterwards
      </label>
      {evaluate && (
        <div className="grid-2">
          <Field label="Evaluation: max new tokens" hint="greedy answer length per evaluation prompt">
            <input type="number" min={1} placeholder="128" value={evalTokens} onChange={(event) => setEvalTokens(event.target.value)} />
          </Field>
          <Field label="General probe prompts" hint="spread evenly over the probe's categories">
            <input type="number" min={4} placeholder="100" value={probeItems} onChange={(event) => setProbeItems(event.target.value)} />
          </Field>
        </div>
      )}
      {(localError || apiError) && (
        <div className="notice bad stack" role="alert" style={{ gap: 6 }}>
          <span>{localError ?? apiError?.message}</span>
          {apiError && apiError.errors.length > 1 && <ErrorTable errors={apiError.errors} total={apiError.errorCount} />}
        </div>
      )}
      <div className="form-actions">
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="btn primary" disabled={pending}>
          {pending ? "Queueing…" : "Queue skill"}
        </button>
      </div>
    </form>
  );
}
