import { useState, type FormEvent } from "react";
import { Field } from "../../components/Field";
import { Modal } from "../../components/Modal";
import { ErrorState } from "../../components/states";
import { useSetRetentionBudget, type RetentionBudget } from "../../queries/tracks";

/** "−3 pts skills · −5 pts general", or null when the track has no gate. */
export function describeBudget(budget: Record<string, unknown> | null | undefined): string | null {
  if (!budget) return null;
  const parts: string[] = [];
  if (typeof budget.max_skill_drop === "number") parts.push(`earlier skills may drop ${Math.round(budget.max_skill_drop * 1000) / 10} pts`);
  if (typeof budget.max_general_drop === "number") parts.push(`general probe ${Math.round(budget.max_general_drop * 1000) / 10} pts`);
  return parts.length ? parts.join(" · ") : null;
}

const toPoints = (fraction: unknown) => (typeof fraction === "number" ? String(Math.round(fraction * 1000) / 10) : "");

/** Sets what a new skill may cost earlier ones before its checkpoint is held back from the head. */
export function RetentionDialog({
  trackId,
  budget,
  onClose,
}: {
  trackId: number;
  budget: Record<string, unknown> | null | undefined;
  onClose: () => void;
}) {
  const save = useSetRetentionBudget(trackId);
  const [skillDrop, setSkillDrop] = useState(toPoints(budget?.max_skill_drop));
  const [generalDrop, setGeneralDrop] = useState(toPoints(budget?.max_general_drop));

  function submit(event: FormEvent) {
    event.preventDefault();
    const fraction = (points: string) => (points.trim() === "" ? null : Number(points) / 100);
    const body: RetentionBudget = { max_skill_drop: fraction(skillDrop), max_general_drop: fraction(generalDrop) };
    save.mutate(body, { onSuccess: onClose });
  }

  return (
    <Modal title="Retention budget" onClose={onClose}>
      <form className="stack" onSubmit={submit} aria-label="Retention budget">
        <p className="small muted">
          With a budget, a new checkpoint becomes the head only after its evaluation shows the cost stayed within it; otherwise it is
          kept but held, and you decide. Leave both empty to promote every checkpoint at once.
        </p>
        <Field label="Earlier skills may drop at most (points)" hint="below each skill's accuracy just after it was learned">
          <input type="number" min={0} max={100} step="any" placeholder="no bound" value={skillDrop} onChange={(event) => setSkillDrop(event.target.value)} />
        </Field>
        <Field label="General probe may drop at most (points)" hint="below the base model's score">
          <input type="number" min={0} max={100} step="any" placeholder="no bound" value={generalDrop} onChange={(event) => setGeneralDrop(event.target.value)} />
        </Field>
        {save.isError && <ErrorState error={save.error} title="Not saved" />}
        <div className="form-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn primary" disabled={save.isPending}>
            {save.isPending ? "Saving…" : "Save budget"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
