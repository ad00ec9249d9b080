import { screen, within } from "@testing-library/react";
import { renderWithProviders } from "../../test/render";
import { PreflightReport } from "../skills/PreflightPanel";
import { describeBudget } from "../tracks/RetentionDialog";
import { safeNext } from "./LoginPage";
import { csrfToken } from "../../client/api";

describe("login redirects", () => {
  it("follows only same-site paths", () => {
    expect(safeNext("/tracks/3?checkpoint=4")).toBe("/tracks/3?checkpoint=4");
    expect(safeNext("//evil.example/x")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });

  it("reads the CSRF token the backend set as a cookie", () => {
    document.cookie = "other=1";
    expect(csrfToken()).toBeNull();
    document.cookie = "apprentice_csrf=abc%3D123";
    expect(csrfToken()).toBe("abc=123");
  });
});

describe("retention budget", () => {
  it("describes the gate in points", () => {
    expect(describeBudget(null)).toBeNull();
    expect(describeBudget({ max_skill_drop: 0.03, max_general_drop: null })).toBe("earlier skills may drop 3 pts");
    expect(describeBudget({ max_skill_drop: 0.025, max_general_drop: 0.05 })).toBe("earlier skills may drop 2.5 pts · general probe 5 pts");
  });
});

describe("PreflightReport", () => {
  it("shows the verdict, ranks rows and flags the ones without signal", () => {
    renderWithProviders(
      <PreflightReport
        model="smollm2-135m"
        created="2026-11-28T10:00:00Z"
        summary={{ n: 2, n_scored: 2, n_with_signal: 1, n_flagged: 1, mean_gap: 0.7, teacher_accuracy: 0.5, verdict: "the teacher signal exists on 1 of 2" }}
        rows={[
          { index: 0, line: 4, prompt: "call the weather tool", student_prompt_tokens: 20, teacher_prompt_tokens: 60, demonstration_tokens: 12, student_logprob: -1.6, teacher_logprob: -0.15, gap: 1.45, teacher_answer: "Action: weather", teacher_correct: true, teacher_reason: "match", flags: [], warnings: [], rank: 1 },
          { index: 1, line: 2, prompt: "say hi", student_prompt_tokens: 10, teacher_prompt_tokens: 40, demonstration_tokens: 3, student_logprob: -2, teacher_logprob: -2.1, gap: -0.1, teacher_answer: "hello", teacher_correct: false, teacher_reason: "no match", flags: ["negative_gap", "teacher_wrong"], warnings: [], rank: 2 },
        ]}
      />,
    );
    expect(screen.getByTestId("preflight-verdict")).toHaveTextContent("the teacher signal exists on 1 of 2");
    const rows = within(screen.getByRole("table", { name: "Demonstrations ranked by teacher signal" })).getAllByRole("row");
    expect(rows[1]).toHaveTextContent("call the weather tool");
    expect(rows[1]).toHaveTextContent("1.45");
    expect(within(rows[2]!).getByText("teacher disagrees")).toBeInTheDocument();
    expect(within(rows[2]!).getByText("wrong")).toBeInTheDocument();
  });
});
