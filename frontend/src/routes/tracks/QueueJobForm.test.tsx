import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { renderWithProviders } from "../../test/render";
import { QueueJobForm } from "./QueueJobForm";

test("choosing SDFT shows what our benchmark measured against SFT; SFT hides it", async () => {
  vi.stubGlobal("fetch", vi.fn(async () => new Response("[]", { status: 200, headers: { "content-type": "application/json" } })));
  renderWithProviders(<QueueJobForm onSubmit={() => {}} onCancel={() => {}} pending={false} error={null} />);
  const note = screen.getByRole("note", { name: "What we measured" });
  expect(note).toHaveTextContent("SFT reached 87 %");
  expect(note).toHaveTextContent("the paper's settings 9 %");
  await userEvent.click(screen.getByDisplayValue("sft"));
  expect(screen.queryByRole("note", { name: "What we measured" })).toBeNull();
  vi.unstubAllGlobals();
});
