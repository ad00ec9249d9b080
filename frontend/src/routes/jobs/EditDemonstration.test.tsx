import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";

// A fake backend at the fetch boundary, installed before any module creates the API client.
const server = await vi.hoisted(async () => (await import("../../test/fakeServer")).installFakeServer());

import type { JobDetail, RolloutTrace } from "../../queries/jobs";
import { example, version } from "../../test/fixtures";
import { renderWithProviders } from "../../test/render";
import { findSourceRow, followUpJob, followUpSteps, revisionRequest } from "./demonstration";
import { EditDemonstrationDialog } from "./EditDemonstration";

const rows = [example(0), example(1), example(2, { context: "the calculator adds", reference: "4" })];
const rendered = (content: string) => `<|im_start|>user\n${content}<|im_end|>\n<|im_start|>assistant\n`;

const trace = {
  prompt: rendered("What is 2 + 2?"),
  teacher_prompt: "…",
  demonstration: rows[2]!.demonstration,
  completion: "Action: subtract",
  general: false,
  tokens: [],
};

const job: JobDetail = {
  id: 7,
  kind: "train",
  track_id: 3,
  skill_id: 1,
  dataset_version_id: 11,
  checkpoint_id: null,
  method: "sdft",
  config: { epochs: 2, lr: 1e-5, trace_every: 5 },
  queue: "cpu",
  position: 1,
  state: "succeeded",
  attempt: 1,
  last_step: 20,
  total_steps: 20,
  progress: 1,
  cancel_requested: false,
  error: null,
  created_at: "2026-11-28T10:00:00Z",
  started_at: null,
  finished_at: null,
  heartbeat_at: null,
  start_checkpoint_id: 1,
  result_checkpoint_id: 2,
  summary: { evaluate: true, evaluation: { max_new_tokens: 64 } },
  warnings: [],
  steps: [],
} as JobDetail;

const rollout: RolloutTrace = { id: 5, attempt: 1, step: 10, sample_index: 1, trace };

beforeEach(() => {
  server.routes = [];
  server.requests = [];
});

describe("demonstration logic", () => {
  it("finds the row a rollout's prompt came from, and none for general or replayed prompts", () => {
    expect(findSourceRow(rows, trace)?.index).toBe(2);
    // same demonstration text, but the prompt is another row's
    expect(findSourceRow(rows, { ...trace, prompt: rendered("What is 9 + 9?") })).toBeNull();
    expect(findSourceRow(rows, { ...trace, general: true })).toBeNull();
    expect(findSourceRow(rows, { ...trace, demonstration: "from an earlier skill" })).toBeNull();
  });

  it("builds the revision: the edited answer added, optionally replacing its row, with its source", () => {
    const draft = { prompt: rows[2]!.prompt, response: "Action: add", reference: " 4 ", context: "ctx", replaceIndex: 2, split: "train" as const };
    expect(revisionRequest(draft, { jobId: 7, step: 10, sampleIndex: 1 })).toEqual({
      add: [{ prompt: rows[2]!.prompt, demonstration: "Action: add", split: "train", context: "ctx", reference: "4" }],
      remove_indices: [2],
      source: "job 7, step 10, sample 1",
    });
    const added = revisionRequest({ ...draft, reference: "", context: null, replaceIndex: null }, { jobId: 7, step: 10, sampleIndex: 1 });
    expect(added.add![0]).not.toHaveProperty("reference");
    expect(added.remove_indices).toEqual([]);
  });

  it("prefills the follow-up job from the original one with a quarter of its steps", () => {
    expect(followUpSteps(job)).toBe(5);
    expect(followUpSteps({ total_steps: 0, config: { steps: 3 } })).toBe(1);
    expect(followUpSteps({ total_steps: 0, config: {} })).toBe(10);
    expect(followUpJob(job, 12, 5)).toEqual({
      skill_id: 1,
      dataset_version_id: 12,
      method: "sdft",
      queue: "cpu",
      config: { lr: 1e-5, trace_every: 5, steps: 5 }, // epochs dropped: steps and epochs exclude each other
      evaluate: true,
      evaluation: { max_new_tokens: 64 },
    });
  });
});

describe("EditDemonstrationDialog", () => {
  it("saves the edited rollout as a new version and queues a short follow-up job on it", async () => {
    // the source row is on the second page of a large version
    server.routes.push(["GET", /\/api\/datasets\/11\/examples$/, (request: Request) => {
      const offset = Number(new URL(request.url).searchParams.get("offset"));
      const items = offset === 0 ? [example(0), example(1)] : [{ ...rows[2]!, index: 502 }];
      return { total: 503, offset, limit: 500, items };
    }]);
    const newVersion = { ...version(12, 2), report: null, n_train: 9 };
    server.routes.push(["POST", /\/api\/datasets\/11\/revisions$/, () => [201, { created: true, revised_from: 11, added: 1, removed: 0, version: newVersion }]]);
    server.routes.push(["POST", /\/api\/tracks\/3\/jobs$/, () => [202, { ...job, id: 8, state: "queued" }]]);
    const onClose = vi.fn();
    renderWithProviders(<EditDemonstrationDialog job={job} rollout={rollout} onClose={onClose} />);

    expect(await screen.findByTestId("demonstration-prompt")).toHaveTextContent("user: What is 2 + 2?");
    expect(screen.getByText(/row 503 of the run's dataset/)).toBeInTheDocument();
    const response = screen.getByLabelText("Demonstration");
    expect(response).toHaveValue("Action: subtract");
    expect(screen.getByLabelText("Reference answer")).toHaveValue("4");

    // unchanged: refused before any request
    await userEvent.click(screen.getByRole("button", { name: "Save as new version" }));
    expect(screen.getByRole("alert")).toHaveTextContent("the rollout unchanged");
    expect(server.requests.filter((r) => r.method === "POST")).toHaveLength(0);

    await userEvent.clear(response);
    await userEvent.type(response, "Action: add");
    await userEvent.click(screen.getByRole("button", { name: "Save as new version" }));
    expect(await screen.findByText(/Saved as/)).toHaveTextContent("version 2");
    const revision = server.requests.find((r) => r.method === "POST" && r.url.includes("/revisions"))!;
    expect(await revision.json()).toEqual({
      add: [{ prompt: rows[2]!.prompt, demonstration: "Action: add", split: "train", context: "the calculator adds", reference: "4" }],
      remove_indices: [],
      source: "job 7, step 10, sample 1",
    });
    expect(screen.getByRole("link", { name: "see the change" })).toHaveAttribute("href", "/skills/1/diff/11/12");

    const steps = screen.getByLabelText("Steps");
    expect(steps).toHaveValue(5);
    await userEvent.clear(steps);
    await userEvent.type(steps, "3");
    await userEvent.click(screen.getByRole("button", { name: "Queue follow-up job" }));
    expect(await screen.findByRole("link", { name: "job #8" })).toHaveAttribute("href", "/jobs/8");
    const queued = server.requests.find((r) => r.method === "POST" && r.url.includes("/tracks/3/jobs"))!;
    const body = await queued.json();
    expect(body).toMatchObject({ skill_id: 1, dataset_version_id: 12, method: "sdft", queue: "cpu", config: { steps: 3, lr: 1e-5 } });
    expect(body.config).not.toHaveProperty("epochs");
  });

  it("asks for the prompt when the rollout's prompt is not in the version, and shows why a save was refused", async () => {
    server.routes.push(["GET", /\/api\/datasets\/11\/examples$/, () => ({ total: 3, offset: 0, limit: 500, items: rows })]);
    server.routes.push(["POST", /\/api\/datasets\/11\/revisions$/, () => [422, { detail: { code: "invalid_dataset", message: "row 4: prompt is empty" } }]]);
    const replayed = { ...rollout, trace: { ...trace, demonstration: "from an earlier skill" } };
    renderWithProviders(<EditDemonstrationDialog job={job} rollout={replayed} onClose={() => {}} />);
    const prompt = await screen.findByLabelText("Prompt");
    expect(screen.queryByRole("checkbox")).toBeNull();
    await userEvent.clear(screen.getByLabelText("Demonstration"));
    await userEvent.type(screen.getByLabelText("Demonstration"), "Action: add");
    await userEvent.click(screen.getByRole("button", { name: "Save as new version" }));
    expect(screen.getByRole("alert")).toHaveTextContent("The prompt is empty.");
    await userEvent.type(prompt, "What is 2 + 2?");
    await userEvent.click(screen.getByRole("button", { name: "Save as new version" }));
    await waitFor(() => expect(screen.getByText("Not saved")).toBeInTheDocument());
    const revision = server.requests.find((r) => r.method === "POST")!;
    expect((await revision.json()).add[0].prompt).toEqual([{ role: "user", content: "What is 2 + 2?" }]);
  });
});
