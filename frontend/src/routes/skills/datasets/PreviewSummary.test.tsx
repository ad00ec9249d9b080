import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { example, preview, version } from "../../../test/fixtures";
import { renderWithProviders } from "../../../test/render";
import { PreviewSummary, previewVerdict } from "./PreviewSummary";

const file = { name: "calc.jsonl", size: 2048 };

describe("PreviewSummary", () => {
  it("lists every error with its line and field, and offers to skip the bad rows", async () => {
    const onConfirm = vi.fn();
    renderWithProviders(
      <PreviewSummary
        skillId={1}
        file={file}
        onReset={() => {}}
        onConfirm={onConfirm}
        preview={preview({
          n_examples: 6,
          n_rejected: 2,
          accepted_as_is: false,
          errors: [
            { line: 3, field: "response", message: "is empty" },
            { line: 5, field: "messages[0].role", message: "role 'robot' is not one of system, user, assistant" },
          ],
          error_count: 2,
        })}
      />,
    );
    const table = screen.getByRole("table", { name: "Validation errors" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((row) => within(row).getAllByRole("cell")[0]?.textContent)).toEqual(["3", "5"]);
    expect(within(table).getByText("messages[0].role")).toBeInTheDocument();
    expect(screen.getByTestId("preview-verdict")).toHaveTextContent("2 problems in the file");
    expect(screen.queryByRole("button", { name: /^Upload 6 rows/ })).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Upload 6 valid rows, skip 2" }));
    expect(onConfirm).toHaveBeenCalledWith("skip");
  });

  it("uploads a clean file as is", async () => {
    const onConfirm = vi.fn();
    renderWithProviders(<PreviewSummary skillId={1} file={file} onReset={() => {}} onConfirm={onConfirm} preview={preview()} />);
    expect(screen.getByText("JSONL")).toBeInTheDocument();
    expect(screen.queryByRole("table", { name: "Validation errors" })).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Upload 3 rows" }));
    expect(onConfirm).toHaveBeenCalledWith("reject");
  });

  it("points at the existing version instead of uploading identical content", () => {
    renderWithProviders(
      <PreviewSummary skillId={4} file={file} onReset={() => {}} onConfirm={() => {}} preview={preview({ existing_version: version(9, 2) })} />,
    );
    expect(screen.getByTestId("preview-verdict")).toHaveTextContent("Identical to version 2");
    expect(screen.getByRole("link", { name: "Open version 2" })).toHaveAttribute("href", "/skills/4/versions/9");
    expect(screen.queryByRole("button", { name: /^Upload/ })).not.toBeInTheDocument();
  });

  it("shows flagged passages and says how many rows of the file the table holds", () => {
    renderWithProviders(
      <PreviewSummary
        skillId={1}
        file={file}
        onReset={() => {}}
        onConfirm={() => {}}
        preview={preview({
          n_examples: 40,
          rows: [example(0, { flags: [{ field: "demonstration", kind: "instruction_override", match: "ignore previous instructions" }] })],
          flags: [{ line: 1, field: "demonstration", kind: "instruction_override", match: "ignore previous instructions" }],
          flag_count: 1,
        })}
      />,
    );
    const flags = screen.getByRole("table", { name: "Flagged demonstrations" });
    expect(within(flags).getByText("overrides instructions")).toBeInTheDocument();
    expect(screen.getByText(/1 of 40, as they will be stored/)).toBeInTheDocument();
    expect(screen.getByText("flagged")).toBeInTheDocument();
  });
});

describe("previewVerdict", () => {
  it("refuses a file with no valid row", () => {
    const verdict = previewVerdict(preview({ n_examples: 0, accepted_as_is: false, accepted_with_skip: false, format: null }));
    expect(verdict.tone).toBe("bad");
  });
});
