import { useState, type FormEvent } from "react";
import { ApiError } from "../../client/api";
import { Field } from "../../components/Field";
import type { SkillCreate } from "../../queries/skills";

export const SCORERS: { value: SkillCreate["scorer"] & string; label: string; hint: string }[] = [
  { value: "exact", label: "exact", hint: "output equals the reference (whitespace stripped)" },
  { value: "contains", label: "contains", hint: "the reference occurs in the output" },
  { value: "regex", label: "regex", hint: "a pattern is searched in the output; a capture group must equal the reference" },
  { value: "json_match", label: "json_match", hint: "first JSON value equals the reference's JSON, key order ignored" },
  { value: "choice", label: "choice", hint: "letter inside the last <answer>…</answer> equals the reference" },
  { value: "tool_calls", label: "tool_calls", hint: "the paper's Action: / Action Input: parser and comparison" },
];

/** The SDFT paper's wording (its results are at 7B); a preset, no longer the default. */
export const PAPER_TEMPLATE = `{prompt}

This is an example for a response to the question:
{demonstration}

Now answer with a response of your own, including the thinking process.`;

/**
 * The engine's default (worker/sdft/config.py holds the same text): on SmolLM2-135M and Qwen2.5-0.5B the
 * paper's wording made the teacher narrate instead of answering; this one won the learning benchmark
 * (bench/results/learning.md).
 */
export const FORMAT_TEMPLATE = `{prompt}

Answer in exactly the same format as this example answer:
{demonstration}`;

/**
 * Skipped tokens a job gets when it sets none (the engine's skip_for_template): the paper's 3 with the
 * paper's template, whose framing they guard against, else 0.
 */
export function defaultSkipTokens(template: string | null | undefined): number {
  return template === PAPER_TEMPLATE ? 3 : 0;
}

/** What a skill's stored template is, in a word: empty means the engine's default. */
export function templateLabel(template: string | null | undefined): string {
  if (!template) return "default";
  if (template === PAPER_TEMPLATE) return "paper";
  if (template === FORMAT_TEMPLATE) return "same format";
  return "custom";
}

/** The create-skill form; `onSubmit` gets a body ready for POST /api/skills. */
export function SkillForm({
  onSubmit,
  onCancel,
  pending,
  error,
}: {
  onSubmit: (body: SkillCreate) => void;
  onCancel?: () => void;
  pending?: boolean;
  error?: unknown;
}) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [scorer, setScorer] = useState<string>("exact");
  const [pattern, setPattern] = useState("");
  const [template, setTemplate] = useState("");
  const [localError, setLocalError] = useState<string | null>(null);

  const apiError = error instanceof ApiError ? error : null;
  const nameTaken = apiError?.status === 409;

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!name.trim()) {
      setLocalError("Give the skill a name.");
      return;
    }
    if (scorer === "regex" && !pattern) {
      setLocalError("The regex scorer needs a pattern.");
      return;
    }
    if (template.trim() && !(template.includes("{prompt}") && template.includes("{demonstration}"))) {
      setLocalError("The teacher template must contain {prompt} and {demonstration}.");
      return;
    }
    setLocalError(null);
    onSubmit({
      name: name.trim(),
      description: description.trim(),
      scorer: scorer as SkillCreate["scorer"],
      scorer_config: scorer === "regex" ? { pattern } : {},
      teacher_template: template.trim() ? template : null,
    });
  }

  const scorerHint = SCORERS.find((option) => option.value === scorer)?.hint;

  return (
    <form className="stack" onSubmit={submit} noValidate aria-label="New skill">
      <Field label="Name" error={nameTaken ? (apiError?.message ?? "A skill with this name exists.") : undefined}>
        <input
          name="name"
          value={name}
          onChange={(event) => setName(event.target.value)}
          placeholder="e.g. tool-use-calendar"
          maxLength={200}
          required
        />
      </Field>
      <Field label="Description" optional>
        <input name="description" value={description} onChange={(event) => setDescription(event.target.value)} />
      </Field>
      <Field label="Scorer" hint={scorerHint}>
        <select name="scorer" value={scorer} onChange={(event) => setScorer(event.target.value)}>
          {SCORERS.map((option) => (
            <option key={option.value} value={option.value}>
              {option.label}
            </option>
          ))}
        </select>
      </Field>
      {scorer === "regex" && (
        <Field label="Pattern" hint="searched in the output; with a capture group, the group must equal the reference">
          <input name="pattern" className="mono" value={pattern} onChange={(event) => setPattern(event.target.value)} placeholder="(-?\d+)" />
        </Field>
      )}
      <Field label="Teacher prompt template" optional hint="Needs {prompt} and {demonstration}; {context} is optional. Empty uses the default, which asks for an answer in the example's format (shown greyed).">
        <textarea
          name="teacher_template"
          rows={6}
          value={template}
          onChange={(event) => setTemplate(event.target.value)}
          placeholder={FORMAT_TEMPLATE}
        />
      </Field>
      <div className="row" style={{ gap: 6 }}>
        <span className="small muted">Presets:</span>
        <button
          type="button"
          className="btn small"
          aria-pressed={!template.trim()}
          title="The default: the teacher restates the demonstrated answer in its form; the best SDFT teacher wording on 135M and 0.5B models in our benchmark"
          onClick={() => setTemplate("")}
        >
          Same format as the example (default)
        </button>
        <button
          type="button"
          className="btn small"
          aria-pressed={template === PAPER_TEMPLATE}
          title="The SDFT paper's wording, measured at 7B; on 135M and 0.5B models its teacher narrated steps instead of answering. The paper also skips 3 tokens (a job option)."
          onClick={() => setTemplate(PAPER_TEMPLATE)}
        >
          Paper
        </button>
      </div>
      {(localError !== null || (apiError !== null && !nameTaken) || (error != null && apiError === null)) && (
        <div className="notice bad" role="alert">
          {localError ?? (error instanceof Error ? error.message : String(error))}
        </div>
      )}
      <div className="form-actions">
        {onCancel && (
          <button type="button" className="btn" onClick={onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" className="btn primary" disabled={pending}>
          {pending ? "Creating…" : "Create skill"}
        </button>
      </div>
    </form>
  );
}
