import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { mergeStep, latestSteps } from "../../lib/jobStream";
import type { CheckpointNode, Job } from "../../queries/tracks";
import { renderWithProviders } from "../../test/render";
import { CheckpointTree } from "./CheckpointTree";
import { JobQueue, moveTo } from "./JobQueue";
import { describeRollback } from "./rollback";

const checkpoint = (id: number, parent_id: number | null, skill_id: number | null = id): CheckpointNode => ({
  id,
  parent_id,
  kind: parent_id === null ? "base" : "skill",
  job_id: parent_id === null ? null : id * 10,
  skill_id: parent_id === null ? null : skill_id,
  dataset_version_id: parent_id === null ? null : 1,
  method: parent_id === null ? null : "sdft",
  metrics: parent_id === null ? {} : { loss: 0.5 },
  created_at: "2026-11-28T10:00:00Z",
});

// base 1 -> 2 (skill A) -> 3 (skill B); rolled back to 2 and trained 4 (skill C)
const tree = [checkpoint(1, null), checkpoint(2, 2 - 1), checkpoint(3, 2), checkpoint(4, 2)];
const names: Record<number, string> = { 2: "skill A", 3: "skill B", 4: "skill C" };
const label = (c: CheckpointNode) => (c.kind === "base" ? "base model" : names[c.id]!);

describe("describeRollback", () => {
  it("says the later checkpoints are kept when rolling back along the head's line", () => {
    const lines = describeRollback({ checkpoints: tree, headId: 3, targetId: 1, queuedJobs: 2, label });
    expect(lines[0]).toBe("The head moves from #3 (skill B) to #1 (base model).");
    expect(lines[1]).toMatch(/^#2, #3 are kept/);
    expect(lines[2]).toBe("2 queued jobs will start from #1 (base model).");
    expect(lines).toContain("Nothing is deleted.");
  });

  it("says the head switches branch when the target is on another one", () => {
    const lines = describeRollback({ checkpoints: tree, headId: 4, targetId: 3, queuedJobs: 0, label });
    expect(lines[1]).toMatch(/another branch/);
    expect(lines[2]).toBe("The next skill you queue will start from #3 (skill B).");
  });
});

describe("CheckpointTree", () => {
  it("lists checkpoints in tree order, marks the head and selects with the keyboard", async () => {
    const onSelect = vi.fn();
    renderWithProviders(
      <CheckpointTree checkpoints={tree} headId={4} selectedId={2} onSelect={onSelect} skillName={(id) => (id ? names[id]! : "—")} />,
    );
    const rows = within(screen.getByRole("list", { name: "Checkpoints" })).getAllByRole("button");
    expect(rows.map((row) => row.getAttribute("aria-label"))).toEqual([
      "Checkpoint 1: base model",
      "Checkpoint 2: skill A",
      "Checkpoint 3: skill B",
      "Checkpoint 4: skill C, head",
    ]);
    expect(rows[1]).toHaveAttribute("aria-pressed", "true");
    rows[0]!.focus();
    await userEvent.keyboard("{ArrowDown}{ArrowDown}{Enter}");
    expect(onSelect).toHaveBeenCalledWith(3);
    // the branch after the rollback is drawn in its own lane: two node columns
    const xs = new Set(Array.from(document.querySelectorAll("circle.node")).map((c) => c.getAttribute("cx")));
    expect(xs.size).toBe(2);
  });
});

const job = (id: number, state: Job["state"], position: number): Job => ({
  id,
  kind: "train",
  track_id: 1,
  skill_id: 2,
  dataset_version_id: 1,
  checkpoint_id: null,
  method: "sdft",
  config: {},
  queue: "gpu",
  position,
  state,
  attempt: state === "queued" ? 0 : 1,
  last_step: state === "running" ? 3 : 0,
  total_steps: state === "running" ? 12 : 0,
  cancel_requested: false,
  error: null,
  start_checkpoint_id: state === "running" ? 2 : null,
  result_checkpoint_id: null,
  summary: {},
  created_at: "2026-11-28T10:00:00Z",
  started_at: null,
  finished_at: null,
  heartbeat_at: null,
});

describe("JobQueue", () => {
  it("moves ids", () => {
    expect(moveTo([1, 2, 3], 3, 0)).toEqual([3, 1, 2]);
    expect(moveTo([1, 2, 3], 1, 2)).toEqual([2, 3, 1]);
    expect(moveTo([1, 2, 3], 2, 99)).toEqual([1, 3, 2]);
  });

  it("shows the running job's progress and reorders queued jobs from the keyboard", async () => {
    const onReorder = vi.fn();
    const onCancel = vi.fn();
    renderWithProviders(
      <JobQueue
        jobs={[job(5, "running", 1), job(6, "queued", 2), job(7, "queued", 3), job(4, "succeeded", 0)]}
        skillName={() => "skill A"}
        onReorder={onReorder}
        onCancel={onCancel}
        cancelling={null}
      />,
    );
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "25");
    const queued = within(screen.getByRole("list", { name: "Queued jobs" })).getAllByRole("listitem");
    expect(queued.map((item) => within(item).getByRole("link").textContent)).toEqual(["Job #6 · skill A", "Job #7 · skill A"]);
    expect(screen.getByRole("button", { name: "Move job 6 up" })).toBeDisabled();
    await userEvent.click(screen.getByRole("button", { name: "Move job 7 up" }));
    expect(onReorder).toHaveBeenCalledWith([7, 6]);
    await userEvent.click(within(queued[0]!).getByRole("button", { name: "Cancel" }));
    expect(onCancel).toHaveBeenCalledWith(expect.objectContaining({ id: 6 }));
    expect(within(screen.getByRole("table", { name: "Finished jobs" })).getByText("#4")).toBeInTheDocument();
  });
});

describe("job stream merging", () => {
  it("keeps one entry per step, the latest attempt winning", () => {
    const steps = [
      { step: 1, attempt: 1, metrics: { loss: 3 } },
      { step: 2, attempt: 1, metrics: { loss: 2.5 } },
      { step: 2, attempt: 2, metrics: { loss: 2.4 } },
      { step: 3, attempt: 2, metrics: { loss: 2.0 } },
    ];
    expect(latestSteps(steps).map((s) => [s.step, s.metrics.loss])).toEqual([
      [1, 3],
      [2, 2.4],
      [3, 2.0],
    ]);
    // an older attempt's late event does not overwrite the newer one
    expect(mergeStep(latestSteps(steps), { step: 2, attempt: 1, metrics: { loss: 9 } })[1]!.metrics.loss).toBe(2.4);
  });
});
