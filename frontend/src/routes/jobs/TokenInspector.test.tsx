import { fireEvent, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import type { TokenTrace } from "../../lib/tokenColors";
import { PromptPair, TokenInspector } from "./TokenInspector";

const tokens: TokenTrace[] = [
  { token: "Action", student_logprob: -2.5, teacher_logprob: -0.2, divergence: 0.9, student_top: [["The", -1.0], ["Action", -2.5]], teacher_top: [["Action", -0.2], ["The", -2.0]] },
  { token: ":", student_logprob: -0.1, teacher_logprob: -0.1, divergence: 0.01, student_top: [[":", -0.1]], teacher_top: [[":", -0.1]] },
  { token: " add", student_logprob: -1.0, teacher_logprob: -3.0, divergence: 1.4, student_top: [[" add", -1.0]], teacher_top: [[" sum", -0.3], [" add", -3.0]] },
  { token: "\n", student_logprob: -0.5, teacher_logprob: -0.4, divergence: 0.05, student_top: [["\n", -0.5]], teacher_top: [["\n", -0.4]] },
];

const trace = {
  prompt: "<user>What is 2 + 2?",
  teacher_prompt: "<user>What is 2 + 2?\n\nThis is an example:\nAction: add\n\nNow answer",
  demonstration: "Action: add",
  completion: "Action: add\n",
  tokens,
};

describe("TokenInspector", () => {
  it("colours each token and shows both log-probs and top alternatives for the focused one", async () => {
    render(<TokenInspector trace={trace} pinned={null} onPin={() => {}} skipFirstTokens={1} />);
    const buttons = screen.getAllByTestId("token");
    expect(buttons.map((button) => button.textContent)).toEqual(["Action", ":", " add", "↵"]);
    // teacher prefers "Action" (blue) and dislikes " add" (red)
    const [r0, , b0] = buttons[0]!.style.background.match(/\d+/g)!.map(Number);
    const [r2, , b2] = buttons[2]!.style.background.match(/\d+/g)!.map(Number);
    expect(b0!).toBeGreaterThan(r0!);
    expect(r2!).toBeGreaterThan(b2!);

    const detail = screen.getByTestId("token-detail");
    expect(detail).toHaveTextContent('"Action"');
    expect(detail).toHaveTextContent("not in loss"); // the first token is skipped
    expect(detail).toHaveTextContent("2.3"); // teacher − student

    // keyboard: one tab stop, arrows move
    buttons[0]!.focus();
    await userEvent.keyboard("{ArrowRight}{ArrowRight}");
    expect(buttons[2]).toHaveFocus();
    expect(detail).toHaveTextContent('" add"');
    expect(detail).not.toHaveTextContent("not in loss");
    const teacherTop = within(detail).getByRole("table", { name: "Teacher top 5" });
    expect(within(teacherTop).getAllByRole("row")[1]).toHaveTextContent('" sum"');
    expect(within(teacherTop).getByText('" add"').closest("tr")).toHaveClass("sampled");
    expect(buttons.filter((button) => button.tabIndex === 0)).toHaveLength(1);
  });

  it("pins a clicked token and recolours by the chosen measure", async () => {
    const onPin = vi.fn();
    render(<TokenInspector trace={trace} pinned={1} onPin={onPin} skipFirstTokens={0} />);
    expect(screen.getByTestId("token-detail")).toHaveTextContent("token 2 of 4");
    const before = screen.getAllByTestId("token")[2]!.style.background;
    await userEvent.click(screen.getByRole("radio", { name: "per-token divergence" }));
    expect(screen.getByRole("radio", { name: "per-token divergence" })).toHaveAttribute("aria-checked", "true");
    expect(screen.getAllByTestId("token")[2]!.style.background).not.toBe(before);
    expect(screen.getByLabelText(/Legend: per-token divergence/)).toBeInTheDocument();
    fireEvent.click(screen.getAllByTestId("token")[3]!);
    expect(onPin).toHaveBeenCalledWith(3);
  });

  it("says so when a rollout has no trace", () => {
    render(<TokenInspector trace={{ ...trace, tokens: [] }} pinned={null} onPin={() => {}} skipFirstTokens={3} />);
    expect(screen.getByText("This rollout has no token trace.")).toBeInTheDocument();
  });
});

describe("PromptPair", () => {
  it("marks the demonstration inside the teacher prompt", () => {
    const { container } = render(<PromptPair trace={trace} />);
    expect(container.querySelector("mark")).toHaveTextContent("Action: add");
  });
});
