import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";

// A fake backend at the fetch boundary, installed before any module creates the API client.
const server = await vi.hoisted(async () => (await import("../../test/fakeServer")).installFakeServer());

import { renderWithProviders } from "../../test/render";
import { PlaygroundPage } from "../PlaygroundPage";
import { PendingAnswer } from "./AnswerView";
import { conversationReducer, emptyConversation, isBusy, messagesFor, parseAdapterIds, type Action, type Conversation } from "./conversation";
import { activeSet, withSkillAdapter } from "./PanePicker";

const job = (id: number, state: string, summary: Record<string, unknown> = {}, error: string | null = null) => ({
  id,
  kind: "generate",
  state,
  summary,
  error,
  steps: [],
});

function reduce(...actions: Action[]): Conversation {
  return actions.reduce(conversationReducer, emptyConversation);
}

beforeEach(() => {
  server.routes = [];
  server.requests = [];
});

describe("conversation", () => {
  it("shares user turns and keeps each pane's answers to itself", () => {
    const state = reduce(
      { type: "ask", text: "hi", checkpoints: { a: 1, b: 2 }, now: 0 },
      { type: "queued", turnId: 1, pane: "a", jobId: 10 },
      { type: "queued", turnId: 1, pane: "b", jobId: 11 },
      { type: "answered", turnId: 1, pane: "a", jobId: 10, text: "hello from A", completionTokens: 3, seconds: 0.5 },
      { type: "answered", turnId: 1, pane: "b", jobId: 11, text: "hello from B", completionTokens: 4, seconds: 0.7 },
      { type: "ask", text: "and then?", checkpoints: { a: 1, b: 2 }, now: 1 },
    );
    expect(messagesFor(state, "a", 2, "  be brief ")).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello from A" },
      { role: "user", content: "and then?" },
    ]);
    expect(messagesFor(state, "b", 2).map((m) => m.content)).toEqual(["hi", "hello from B", "and then?"]);
    expect(isBusy(state)).toBe(true);
  });

  it("leaves out turns a pane has no answer for, so messages still end with the user's", () => {
    const state = reduce(
      { type: "ask", text: "one", checkpoints: { a: 1 }, now: 0 },
      { type: "failed", turnId: 1, pane: "a", message: "boom", jobId: null },
      { type: "ask", text: "two", checkpoints: { a: 1, b: 2 }, now: 1 },
    );
    expect(messagesFor(state, "a", 2)).toEqual([{ role: "user", content: "two" }]);
    expect(messagesFor(state, "b", 2)).toEqual([{ role: "user", content: "two" }]);
    expect(() => messagesFor(state, "a", 99)).toThrow(/turn 99/);
  });

  it("retries only a failed answer and ignores replies that arrive after a clear or for another job", () => {
    let state = reduce({ type: "ask", text: "q", checkpoints: { a: 1 }, now: 0 }, { type: "queued", turnId: 1, pane: "a", jobId: 5 });
    expect(conversationReducer(state, { type: "retry", turnId: 1, pane: "a", now: 9 })).toBe(state);
    const stale = conversationReducer(state, { type: "answered", turnId: 1, pane: "a", jobId: 4, text: "old", completionTokens: 1, seconds: 1 });
    expect(stale.turns[0]!.answers.a).toEqual({ status: "pending", jobId: 5, startedAt: 0 });
    state = conversationReducer(state, { type: "failed", turnId: 1, pane: "a", message: "worker died", jobId: 5 });
    expect(isBusy(state)).toBe(false);
    state = conversationReducer(state, { type: "retry", turnId: 1, pane: "a", now: 9 });
    expect(state.turns[0]!.answers.a).toEqual({ status: "sending", startedAt: 9 });
    const cleared = conversationReducer(state, { type: "clear" });
    expect(cleared.turns).toEqual([]);
    expect(conversationReducer(cleared, { type: "queued", turnId: 1, pane: "a", jobId: 6 })).toEqual(cleared);
    // turn ids keep counting after a clear, so a late reply can never land on a new turn
    expect(conversationReducer(cleared, { type: "ask", text: "new", checkpoints: { a: 1 }, now: 10 }).turns[0]!.id).toBe(2);
  });
});

describe("PendingAnswer", () => {
  it("polls the job until it succeeds, showing the elapsed time, then reports the answer once", async () => {
    let polls = 0;
    server.routes.push([
      "GET",
      /^\/api\/jobs\/7$/,
      () => (++polls < 2 ? job(7, "running") : job(7, "succeeded", { output: "42", completion_tokens: 2, seconds: 0.25 })),
    ]);
    const onAnswered = vi.fn();
    const onFailed = vi.fn();
    renderWithProviders(<PendingAnswer jobId={7} startedAt={Date.now() - 3000} onAnswered={onAnswered} onFailed={onFailed} />);
    expect(await screen.findByText("Generating…")).toBeInTheDocument();
    expect(screen.getByTestId("elapsed").textContent).toMatch(/^3\.\d s$/);
    await waitFor(() => expect(onAnswered).toHaveBeenCalledTimes(1), { timeout: 3000 });
    expect(onAnswered).toHaveBeenCalledWith({ text: "42", completionTokens: 2, seconds: 0.25 });
    expect(onFailed).not.toHaveBeenCalled();
    // terminal: polling stops
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(polls).toBe(2);
  });

  it("reports the job's error when it fails", async () => {
    server.routes.push(["GET", /^\/api\/jobs\/8$/, () => job(8, "failed", {}, "model folder missing")]);
    const onFailed = vi.fn();
    renderWithProviders(<PendingAnswer jobId={8} startedAt={Date.now()} onAnswered={vi.fn()} onFailed={onFailed} />);
    await waitFor(() => expect(onFailed).toHaveBeenCalledWith("model folder missing"));
  });
});

describe("PlaygroundPage", () => {
  const track = { id: 1, name: "demo", base_model: "tiny", head_checkpoint_id: 3, project_id: 1, created_at: "2026-11-28T10:00:00Z" };
  const node = (id: number, parent_id: number | null) => ({
    id,
    parent_id,
    kind: parent_id === null ? "base" : "skill",
    job_id: null,
    skill_id: parent_id === null ? null : 9,
    dataset_version_id: null,
    method: parent_id === null ? null : "sdft",
    metrics: {},
    created_at: "2026-11-28T10:00:00Z",
  });

  function serve({ failFirst = false } = {}) {
    let generated = 0;
    server.routes.push(
      ["GET", /^\/api\/tracks$/, () => [track]],
      ["GET", /^\/api\/tracks\/1$/, () => ({ ...track, checkpoints: [node(1, null), node(3, 1)], running_job_id: null, queued_job_ids: [] })],
      ["GET", /^\/api\/checkpoints\/\d+$/, (r) => ({ id: Number(r.url.split("/").pop()), track_id: 1 })],
      ["GET", /^\/api\/skills$/, () => [{ id: 9, name: "greet" }]],
      [
        "POST",
        /^\/api\/checkpoints\/\d+\/generate$/,
        () => (failFirst && generated++ === 0 ? [503, { detail: { code: "busy", message: "queue full" } }] : [202, job(100 + generated++, "queued")]),
      ],
      ["GET", /^\/api\/jobs\/\d+$/, (r) => job(Number(r.url.split("/").pop()), "succeeded", { output: `answer ${r.url.split("/").pop()}`, completion_tokens: 5, seconds: 0.5 })],
    );
  }

  it("takes the first track's head, sends with Ctrl+Enter and shows the answer with its numbers", async () => {
    serve();
    renderWithProviders(<PlaygroundPage />, { route: "/playground" });
    await waitFor(() => expect(screen.getByLabelText("Pane A checkpoint")).toHaveValue("3"));
    await userEvent.type(screen.getByLabelText("Message"), "Say hi");
    await userEvent.keyboard("{Control>}{Enter}{/Control}");
    const pane = screen.getByRole("region", { name: "Pane A" });
    expect(await within(pane).findByText("answer 100", {}, { timeout: 3000 })).toBeInTheDocument();
    expect(within(pane).getByText(/5 tokens · 0\.50 s/)).toBeInTheDocument();
    const post = server.requests.find((r) => r.method === "POST")!;
    expect(new URL(post.url).pathname).toBe("/api/checkpoints/3/generate");
    expect(await post.json()).toEqual({ messages: [{ role: "user", content: "Say hi" }], max_new_tokens: 256, temperature: 0 });
    expect(screen.getByLabelText("Message")).toHaveValue("");
  });

  it("asks both panes of a deep link and retries a failed answer inline", async () => {
    serve({ failFirst: true });
    renderWithProviders(<PlaygroundPage />, { route: "/playground?a=3&b=1" });
    await waitFor(() => expect(screen.getByLabelText("Pane B checkpoint")).toHaveValue("1"));
    fireEvent.change(screen.getByLabelText("Message"), { target: { value: "Compare" } });
    await userEvent.click(screen.getByRole("button", { name: "Send to both" }));
    const [paneA, paneB] = [screen.getByRole("region", { name: "Pane A" }), screen.getByRole("region", { name: "Pane B" })];
    expect(await within(paneA).findByText("queue full")).toBeInTheDocument();
    expect(await within(paneB).findByText(/^answer 10\d$/, {}, { timeout: 3000 })).toBeInTheDocument();
    await userEvent.click(within(paneA).getByRole("button", { name: "Retry" }));
    expect(await within(paneA).findByText(/^answer 10\d$/, {}, { timeout: 3000 })).toBeInTheDocument();
    expect(within(paneA).queryByRole("alert")).not.toBeInTheDocument();
  });
});

describe("PlaygroundPage on a track of one adapter per skill", () => {
  const track = { id: 2, name: "skills", base_model: "tiny", head_checkpoint_id: 6, project_id: 1, created_at: "2026-11-29T10:00:00Z" };
  const node = (id: number, skill_id: number | null) => ({
    id,
    parent_id: skill_id === null ? null : 1,
    kind: skill_id === null ? "base" : "skill",
    job_id: null,
    skill_id,
    dataset_version_id: null,
    method: skill_id === null ? null : "sdft",
    metrics: {},
    created_at: "2026-11-29T10:00:00Z",
  });
  const version = (checkpoint_id: number) => ({ checkpoint_id, job_id: null, dataset_version_id: 1, created_at: "2026-11-29T10:00:00Z" });
  const skills = [
    { skill_id: 7, skill_name: "greet", active_checkpoint_id: 5, versions: [version(5), version(3)] },
    { skill_id: 8, skill_name: "shout", active_checkpoint_id: 6, versions: [version(6)] },
  ];

  function serve() {
    let generated = 0;
    server.routes.push(
      ["GET", /^\/api\/tracks$/, () => [{ ...track, skill_adapters: { "7": 5, "8": 6 } }]],
      [
        "GET",
        /^\/api\/tracks\/2$/,
        () => ({
          ...track,
          skill_adapters: { "7": 5, "8": 6 },
          checkpoints: [node(1, null), node(3, 7), node(5, 7), node(6, 8)],
          running_job_id: null,
          queued_job_ids: [],
        }),
      ],
      ["GET", /^\/api\/tracks\/2\/adapters$/, () => ({ track_id: 2, enabled: true, skills })],
      ["GET", /^\/api\/checkpoints\/\d+$/, (r) => ({ id: Number(r.url.split("/").pop()), track_id: 2 })],
      ["GET", /^\/api\/skills$/, () => [{ id: 7, name: "greet" }, { id: 8, name: "shout" }]],
      ["POST", /^\/api\/tracks\/2\/generate$/, () => [202, job(200 + generated++, "queued")]],
      ["GET", /^\/api\/jobs\/\d+$/, (r) => job(Number(r.url.split("/").pop()), "succeeded", { output: `answer ${r.url.split("/").pop()}` })],
    );
  }

  it("keeps each skill's adapter in skill order and reads the active set from the track", () => {
    expect(withSkillAdapter(skills, [5, 6], 7, 3)).toEqual([3, 6]);
    expect(withSkillAdapter(skills, [6, 5], 8, null)).toEqual([5]);
    expect(withSkillAdapter(skills, [], 8, 6)).toEqual([6]);
    expect(activeSet({ "8": 6, "7": 5 })).toEqual([5, 6]);
    expect(parseAdapterIds("5,x,6")).toEqual([5, 6]);
    expect(parseAdapterIds("")).toEqual([]);
    expect(parseAdapterIds(null)).toBeNull();
  });

  it("starts from the track's active set, and two panes ask two adapter sets through the track", async () => {
    serve();
    renderWithProviders(<PlaygroundPage />, { route: "/playground" });
    // the first track is a track of adapters: pane A asks its base with every active adapter on
    await waitFor(() => expect(screen.getByLabelText("Pane A greet on")).toBeChecked());
    expect(screen.getByLabelText("Pane A shout on")).toBeChecked();
    expect(screen.queryByLabelText("Pane A checkpoint")).not.toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Compare side by side" }));
    await waitFor(() => expect(screen.getByLabelText("Pane B shout on")).toBeChecked());
    // pane B: greet rolled back to its older adapter, shout off
    await userEvent.selectOptions(screen.getByLabelText("Pane B greet adapter"), "3");
    await userEvent.click(screen.getByLabelText("Pane B shout on"));
    await waitFor(() => expect(screen.getByLabelText("Pane B shout on")).not.toBeChecked());

    fireEvent.change(screen.getByLabelText("Message"), { target: { value: "Hi" } });
    await userEvent.click(screen.getByRole("button", { name: "Send to both" }));
    const [paneA, paneB] = [screen.getByRole("region", { name: "Pane A" }), screen.getByRole("region", { name: "Pane B" })];
    expect(await within(paneA).findByText(/^answer 20\d$/, {}, { timeout: 3000 })).toBeInTheDocument();
    expect(await within(paneB).findByText(/^answer 20\d$/, {}, { timeout: 3000 })).toBeInTheDocument();
    expect(within(paneA).getByText("base + #5, #6")).toBeInTheDocument();
    expect(within(paneB).getByText("base + #3")).toBeInTheDocument();
    const posts = server.requests.filter((r) => r.method === "POST");
    expect(posts.map((r) => new URL(r.url).pathname)).toEqual(["/api/tracks/2/generate", "/api/tracks/2/generate"]);
    const bodies = await Promise.all(posts.map((r) => r.json()));
    expect(bodies.map((body) => body.adapters).sort()).toEqual([[3], [5, 6]]);
    expect(bodies[0]).toMatchObject({ messages: [{ role: "user", content: "Hi" }], max_new_tokens: 256, temperature: 0 });
  });

  it("opens a deep link's adapter sets, and a link to one adapter asks it alone", async () => {
    serve();
    renderWithProviders(<PlaygroundPage />, { route: "/playground?a=1&a_adapters=&b=3" });
    // b=3 is one adapter of the track: the pane turns it alone on over the base
    await waitFor(() => expect(screen.getByLabelText("Pane B greet on")).toBeChecked());
    expect(screen.getByLabelText("Pane B greet adapter")).toHaveValue("3");
    expect(screen.getByLabelText("Pane B shout on")).not.toBeChecked();
    expect(screen.getByLabelText("Pane A greet on")).not.toBeChecked();
    expect(screen.getByLabelText("Pane A shout on")).not.toBeChecked();
    fireEvent.change(screen.getByLabelText("Message"), { target: { value: "Hi" } });
    await userEvent.click(screen.getByRole("button", { name: "Send to both" }));
    const paneA = screen.getByRole("region", { name: "Pane A" });
    expect(await within(paneA).findByTitle(/asked$/)).toHaveTextContent("base alone");
    await waitFor(() => expect(server.requests.filter((r) => r.method === "POST")).toHaveLength(2));
    const bodies = await Promise.all(server.requests.filter((r) => r.method === "POST").map((r) => r.json()));
    expect(bodies.map((body) => body.adapters).sort()).toEqual([[], [3]]);
  });
});
