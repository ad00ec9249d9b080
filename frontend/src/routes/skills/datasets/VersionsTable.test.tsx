import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { example, version } from "../../../test/fixtures";
import { renderWithProviders } from "../../../test/render";
import { DiffTable } from "../DiffPage";
import { VersionsTable } from "./VersionsTable";

describe("VersionsTable", () => {
  it("lists versions newest first with hash and counts, and picks rows for a diff", async () => {
    const onToggle = vi.fn();
    renderWithProviders(
      <VersionsTable
        skillId={3}
        versions={[version(11, 1), version(12, 2, { n_examples: 7, n_rejected: 2, sha256: "f".repeat(64) })]}
        selected={[12]}
        onToggle={onToggle}
      />,
    );
    const rows = within(screen.getByRole("table", { name: "Dataset versions" })).getAllByRole("row").slice(1);
    expect(within(rows[0]!).getByRole("link")).toHaveTextContent("v2");
    expect(within(rows[0]!).getByRole("link")).toHaveAttribute("href", "/skills/3/versions/12");
    expect(rows[0]).toHaveClass("selected");
    expect(rows[0]).toHaveTextContent("ffffffffffff");
    expect(within(rows[1]!).getByRole("link")).toHaveTextContent("v1");
    await userEvent.click(screen.getByLabelText("Select version 1 for a diff"));
    expect(onToggle).toHaveBeenCalledWith(11);
  });
});

describe("DiffTable", () => {
  it("marks removed and added rows and says when the list is cut", () => {
    renderWithProviders(<DiffTable removed={[example(4)]} added={[example(100), example(101)]} nAdded={5} nRemoved={1} />);
    const table = screen.getByRole("table", { name: "Rows added and removed" });
    expect(table.querySelectorAll("tr.diff-removed")).toHaveLength(1);
    expect(table.querySelectorAll("tr.diff-added")).toHaveLength(2);
    expect(within(table).getByText("What is 100 + 100?")).toBeInTheDocument();
    expect(screen.getByText("Showing 3 of 6 changed rows.")).toBeInTheDocument();
  });
});
