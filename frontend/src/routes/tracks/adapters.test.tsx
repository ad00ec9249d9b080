import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";

// A fake backend at the fetch boundary, installed before any module creates the API client.
const server = await vi.hoisted(async () => (await import("../../test/fakeServer")).installFakeServer());

import type { TrackAdapters } from "../../queries/adapters";
import { renderWithProviders } from "../../test/render";
import { AdaptersPanel, activeAdapterIds } from "./AdaptersPanel";

const version = (checkpoint_id: number) => ({ checkpoint_id, job_id: checkpoint_id * 10, dataset_version_id: 1, created_at: "2026-11-29T10:00:00Z" });
const adapters: TrackAdapters = {
  track_id: 3,
  enabled: true,
  skills: [
    { skill_id: 1, skill_name: "greet", active_checkpoint_id: 5, versions: [version(5), version(2)] },
    { skill_id: 2, skill_name: "shout", active_checkpoint_id: 4, versions: [version(4)] },
  ],
};

beforeEach(() => {
  server.routes = [];
  server.requests = [];
});

it("turns on each skill's active adapter unless unticked", () => {
  expect(activeAdapterIds(adapters.skills, {})).toEqual([5, 4]);
  expect(activeAdapterIds(adapters.skills, { 2: false })).toEqual([5]);
  const off = [{ ...adapters.skills[0]!, active_checkpoint_id: null }];
  expect(activeAdapterIds(off, { 1: true })).toEqual([]);
});

it("rolls one skill back and answers with the adapters left on", async () => {
  server.routes.push(["GET", /\/api\/tracks\/3\/adapters$/, () => adapters]);
  server.routes.push(["PUT", /\/api\/tracks\/3\/adapters\/1$/, () => ({ ...adapters, skills: [{ ...adapters.skills[0]!, active_checkpoint_id: 2 }, adapters.skills[1]!] })]);
  server.routes.push(["POST", /\/api\/tracks\/3\/generate$/, () => [202, { id: 9, state: "queued" }]]);
  server.routes.push(["GET", /\/api\/jobs\/9$/, () => ({ id: 9, kind: "generate", state: "succeeded", summary: { output: "Hello!" }, error: null, steps: [] })]);
  renderWithProviders(<AdaptersPanel trackId={3} />);

  await userEvent.selectOptions(await screen.findByLabelText("greet adapter"), "2");
  const put = server.requests.find((r) => r.method === "PUT")!;
  expect(await put.json()).toEqual({ checkpoint_id: 2, force: false });
  expect(await screen.findByDisplayValue(/#2 ·/)).toBeInTheDocument();
  expect(screen.getByLabelText("shout adapter")).toHaveValue("4"); // the other skill is untouched

  await userEvent.click(screen.getByLabelText("shout on"));
  await userEvent.type(screen.getByLabelText("Prompt"), "Hi");
  await userEvent.click(screen.getByRole("button", { name: "Answer" }));
  expect(await screen.findByTestId("adapter-answer")).toHaveTextContent("Hello!");
  const post = server.requests.find((r) => r.method === "POST")!;
  expect(await post.json()).toMatchObject({ messages: [{ role: "user", content: "Hi" }], adapters: [2] });
});

it("says which adapter the retention budget held, and activates it anyway only with force", async () => {
  const held = { ...version(7), promotion: "held", promotion_message: "held by the retention budget: the general probe dropped 10.0 points (budget 2.0)" };
  const withHeld: TrackAdapters = { ...adapters, skills: [{ ...adapters.skills[0]!, versions: [held, version(5), version(2)] }, adapters.skills[1]!] };
  server.routes.push(["GET", /\/api\/tracks\/3\/adapters$/, () => withHeld]);
  server.routes.push([
    "PUT",
    /\/api\/tracks\/3\/adapters\/1$/,
    async (request) =>
      (await request.json()).force
        ? { ...withHeld, skills: [{ ...withHeld.skills[0]!, active_checkpoint_id: 7 }, withHeld.skills[1]!] }
        : [409, { detail: { code: "conflict", message: "checkpoint 7 held by the retention budget: the general probe dropped 10.0 points" } }],
  ]);
  renderWithProviders(<AdaptersPanel trackId={3} />);

  const select = await screen.findByLabelText("greet adapter");
  expect(screen.getByRole("option", { name: /#7 .* held by the retention budget/ })).toBeInTheDocument();
  await userEvent.selectOptions(select, "7");
  expect(await screen.findByText(/general probe dropped 10\.0 points/)).toBeInTheDocument();
  expect(select).toHaveValue("5"); // refused: the previous adapter stays active
  await userEvent.click(screen.getByRole("button", { name: "Activate anyway (recorded)" }));
  expect(await screen.findByDisplayValue(/#7 ·/)).toBeInTheDocument();
  const bodies = await Promise.all(server.requests.filter((r) => r.method === "PUT").map((r) => r.json()));
  expect(bodies).toEqual([
    { checkpoint_id: 7, force: false },
    { checkpoint_id: 7, force: true },
  ]);
});
