import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { ApiError } from "../../client/api";
import { renderWithProviders } from "../../test/render";
import { FORMAT_TEMPLATE, SkillForm } from "./SkillForm";

describe("SkillForm", () => {
  it("submits a body ready for POST /api/skills", async () => {
    const onSubmit = vi.fn();
    renderWithProviders(<SkillForm onSubmit={onSubmit} />);
    await userEvent.type(screen.getByLabelText("Name"), "  science-mcq ");
    await userEvent.type(screen.getByLabelText("Description"), "Chemistry L3");
    await userEvent.selectOptions(screen.getByLabelText("Scorer"), "choice");
    await userEvent.click(screen.getByRole("button", { name: "Create skill" }));
    expect(onSubmit).toHaveBeenCalledWith({
      name: "science-mcq",
      description: "Chemistry L3",
      scorer: "choice",
      scorer_config: {},
      teacher_template: null,
    });
  });

  it("asks for a regex pattern and checks the template's placeholders before sending", async () => {
    const onSubmit = vi.fn();
    renderWithProviders(<SkillForm onSubmit={onSubmit} />);
    await userEvent.type(screen.getByLabelText("Name"), "numbers");
    await userEvent.selectOptions(screen.getByLabelText("Scorer"), "regex");
    await userEvent.click(screen.getByRole("button", { name: "Create skill" }));
    expect(screen.getByRole("alert")).toHaveTextContent("needs a pattern");

    await userEvent.type(screen.getByLabelText("Pattern"), "(\\d+)");
    await userEvent.type(screen.getByLabelText("Teacher prompt template"), "only {{prompt}");
    await userEvent.click(screen.getByRole("button", { name: "Create skill" }));
    expect(screen.getByRole("alert")).toHaveTextContent("{prompt} and {demonstration}");
    expect(onSubmit).not.toHaveBeenCalled();

    await userEvent.clear(screen.getByLabelText("Teacher prompt template"));
    await userEvent.click(screen.getByRole("button", { name: "Create skill" }));
    expect(onSubmit).toHaveBeenCalledWith(expect.objectContaining({ scorer: "regex", scorer_config: { pattern: "(\\d+)" } }));
  });

  it("shows a taken name next to the name field", () => {
    const taken = new ApiError(409, "conflict", "a skill named 'numbers' exists");
    renderWithProviders(<SkillForm onSubmit={() => {}} error={taken} />);
    expect(screen.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText("a skill named 'numbers' exists")).toBeInTheDocument();
  });

  it("fills the teacher template from a preset and sends it", async () => {
    const onSubmit = vi.fn();
    renderWithProviders(<SkillForm onSubmit={onSubmit} />);
    await userEvent.type(screen.getByLabelText("Name"), "dates");
    await userEvent.click(screen.getByRole("button", { name: "Same format as the example" }));
    expect(screen.getByLabelText("Teacher prompt template")).toHaveValue(FORMAT_TEMPLATE);
    expect(screen.getByRole("button", { name: "Same format as the example" })).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(screen.getByRole("button", { name: "Create skill" }));
    expect(onSubmit).toHaveBeenCalledWith(expect.objectContaining({ teacher_template: FORMAT_TEMPLATE }));

    await userEvent.click(screen.getByRole("button", { name: "Paper" }));
    expect(screen.getByLabelText("Teacher prompt template")).toHaveValue("");
  });
});
