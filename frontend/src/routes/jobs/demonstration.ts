/**
 * "Edit as demonstration": a rollout from the token inspector becomes a demonstration of the run's
 * skill in a new dataset version, and a short follow-up job trains on it. The pure parts live here.
 */
import type { Schemas } from "../../client/api";
import type { Example } from "../../queries/datasets";
import type { JobDetail } from "../../queries/jobs";
import type { JobCreate } from "../../queries/tracks";
import type { RolloutTraceBody } from "./TokenInspector";

export type RevisionRequest = Schemas["RevisionRequest"];
type Message = Example["prompt"][number];

/**
 * The dataset row a rollout's prompt came from: same demonstration, and every message of its prompt
 * inside the chat-template text the student saw. Null for a prompt the version does not hold (a
 * general prompt, or one replayed from an earlier skill).
 */
export function findSourceRow(rows: Example[], trace: RolloutTraceBody): Example | null {
  if (trace.general || !trace.demonstration || !trace.prompt) return null;
  const rendered = trace.prompt;
  return (
    rows.find(
      (row) => row.demonstration === trace.demonstration && row.prompt.every((message) => rendered.includes(message.content)),
    ) ?? null
  );
}

/** Chat messages from the text typed for a prompt that is not in the version: one user turn. */
export function typedPrompt(text: string): Message[] {
  return [{ role: "user", content: text.trim() }];
}

export interface DemonstrationDraft {
  prompt: Message[];
  response: string;
  reference: string;
  context: string | null;
  /** Leave the source row out of the new version (the edit replaces it) instead of adding beside it. */
  replaceIndex: number | null;
  split: "train" | "eval";
}

/** What is wrong with the draft, or null when it can be saved. */
export function draftProblem(draft: DemonstrationDraft, completion: string): string | null {
  if (draft.prompt.length === 0 || draft.prompt.some((message) => !message.content.trim())) return "The prompt is empty.";
  if (!draft.response.trim()) return "The demonstration is empty.";
  if (draft.response === completion) return "The demonstration is the rollout unchanged: edit it into the answer you want.";
  return null;
}

/** The body of POST /api/datasets/{id}/revisions. */
export function revisionRequest(draft: DemonstrationDraft, source: { jobId: number; step: number; sampleIndex: number }): RevisionRequest {
  const reference = draft.reference.trim();
  return {
    add: [
      {
        prompt: draft.prompt,
        demonstration: draft.response,
        split: draft.split,
        ...(draft.context ? { context: draft.context } : {}),
        ...(reference ? { reference } : {}),
      },
    ],
    remove_indices: draft.replaceIndex === null ? [] : [draft.replaceIndex],
    source: `job ${source.jobId}, step ${source.step}, sample ${source.sampleIndex}`,
  };
}

/** A quarter of the original run's steps (at least 1): the new rows are a small change. */
export function followUpSteps(job: Pick<JobDetail, "total_steps" | "config">): number {
  const configured = typeof job.config.steps === "number" ? job.config.steps : null;
  const total = job.total_steps || configured;
  return total ? Math.max(1, Math.ceil(total / 4)) : 10;
}

/** The original job's method, queue, settings and evaluation, on the new version, for `steps` steps. */
export function followUpJob(job: JobDetail, datasetVersionId: number, steps: number): JobCreate {
  const { epochs: _epochs, ...config } = job.config;
  const summary = job.summary as { evaluate?: unknown; evaluation?: unknown };
  const body: JobCreate = {
    skill_id: job.skill_id!,
    dataset_version_id: datasetVersionId,
    method: job.method === "sft" ? "sft" : "sdft",
    queue: job.queue === "cpu" ? "cpu" : "gpu",
    config: { ...(config as NonNullable<JobCreate["config"]>), steps },
  };
  if (typeof summary.evaluate === "boolean") body.evaluate = summary.evaluate;
  if (summary.evaluation && typeof summary.evaluation === "object") body.evaluation = summary.evaluation as JobCreate["evaluation"];
  return body;
}
