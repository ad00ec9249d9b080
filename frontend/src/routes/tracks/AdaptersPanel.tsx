import { useState, type FormEvent } from "react";
import { ApiError } from "../../client/api";
import { Field } from "../../components/Field";
import { ErrorState, QueryView, SkeletonRows, Spinner } from "../../components/states";
import { formatDate } from "../../lib/format";
import { useGenerateWithAdapters, useSetSkillAdapter, useTrackAdapters, type SkillAdapter } from "../../queries/adapters";
import { generationResult, useGenerationJob } from "../../queries/playground";

/** The adapters a request turns on: the active one of each skill ticked. */
export function activeAdapterIds(skills: SkillAdapter[], on: Record<number, boolean>): number[] {
  return skills
    .filter((skill) => skill.active_checkpoint_id !== null && (on[skill.skill_id] ?? true))
    .map((skill) => skill.active_checkpoint_id!);
}

/**
 * A track of one LoRA adapter per skill: each skill's active adapter, rolled back (or off) one skill at
 * a time, and a prompt answered with any subset of them on.
 */
export function AdaptersPanel({ trackId }: { trackId: number }) {
  const adapters = useTrackAdapters(trackId);
  const setAdapter = useSetSkillAdapter(trackId);
  const [on, setOn] = useState<Record<number, boolean>>({});
  return (
    <QueryView query={adapters} loading={<SkeletonRows rows={2} columns={3} />}>
      {(data) =>
        data.skills.length === 0 ? (
          <p className="small muted">No adapters yet: each skill you queue (with a LoRA rank) trains its own adapter from the base model.</p>
        ) : (
          <div className="stack">
            <table className="data" aria-label="Skill adapters">
              <thead>
                <tr>
                  <th>Skill</th>
                  <th>Active adapter</th>
                  <th>On in the answer below</th>
                </tr>
              </thead>
              <tbody>
                {data.skills.map((skill) => (
                  <tr key={skill.skill_id}>
                    <td>{skill.skill_name}</td>
                    <td>
                      <select
                        aria-label={`${skill.skill_name} adapter`}
                        value={skill.active_checkpoint_id ?? ""}
                        disabled={setAdapter.isPending}
                        onChange={(event) => setAdapter.mutate({ skillId: skill.skill_id, checkpointId: Number(event.target.value) || null })}
                      >
                        <option value="">off</option>
                        {skill.versions.map((version, index) => (
                          <option key={version.checkpoint_id} value={version.checkpoint_id} title={version.promotion_message ?? undefined}>
                            #{version.checkpoint_id} · {formatDate(version.created_at)}
                            {index === 0 ? " · newest" : ""}
                            {version.promotion === "held" || version.promotion === "pending" ? ` · ${version.promotion} by the retention budget` : ""}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`${skill.skill_name} on`}
                        disabled={skill.active_checkpoint_id === null}
                        checked={skill.active_checkpoint_id !== null && (on[skill.skill_id] ?? true)}
                        onChange={(event) => setOn({ ...on, [skill.skill_id]: event.target.checked })}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {setAdapter.isError && <ErrorState error={setAdapter.error} title="Not changed" />}
            {setAdapter.isError && setAdapter.error instanceof ApiError && setAdapter.error.status === 409 && setAdapter.variables && (
              <div className="row">
                <button type="button" className="btn danger" onClick={() => setAdapter.mutate({ ...setAdapter.variables!, force: true })}>
                  Activate anyway (recorded)
                </button>
              </div>
            )}
            <TryAdapters trackId={trackId} adapterIds={activeAdapterIds(data.skills, on)} />
          </div>
        )
      }
    </QueryView>
  );
}

function TryAdapters({ trackId, adapterIds }: { trackId: number; adapterIds: number[] }) {
  const generate = useGenerateWithAdapters(trackId);
  const [prompt, setPrompt] = useState("");
  function submit(event: FormEvent) {
    event.preventDefault();
    if (!prompt.trim()) return;
    generate.mutate({ messages: [{ role: "user", content: prompt.trim() }], adapters: adapterIds, max_new_tokens: 128 });
  }
  return (
    <form className="stack" onSubmit={submit} aria-label="Try the adapters">
      <Field label="Prompt" hint={adapterIds.length ? `answered with adapters ${adapterIds.map((id) => `#${id}`).join(", ")} on` : "answered by the base model alone"}>
        <textarea rows={2} value={prompt} onChange={(event) => setPrompt(event.target.value)} />
      </Field>
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={generate.isPending || !prompt.trim()}>
          Answer
        </button>
      </div>
      {generate.isError && <ErrorState error={generate.error} title="Not queued" />}
      {generate.data && <Answer key={generate.data.id} jobId={generate.data.id} />}
    </form>
  );
}

function Answer({ jobId }: { jobId: number }) {
  const job = useGenerationJob(jobId);
  if (job.isError) return <ErrorState error={job.error} />;
  if (!job.data || job.data.state === "queued" || job.data.state === "running")
    return (
      <div className="row small muted">
        <Spinner /> answering…
      </div>
    );
  if (job.data.state !== "succeeded") return <ErrorState error={new Error(job.data.error ?? job.data.state)} />;
  return (
    <pre className="block" data-testid="adapter-answer">
      {generationResult(job.data.summary).text}
    </pre>
  );
}
