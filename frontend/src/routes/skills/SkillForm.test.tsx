import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { ApiError } from "../../client/api";
import { renderWithProviders } from "../../test/render";
import { FORMAT_TEMPLATE, PAPER_TEMPLATE, SkillForm, templateLabel } from "./SkillForm";

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

  it("offers the paper's wording as a preset; the default sends no template", async () => {
    const onSubmit = vi.fn();
    renderWithProviders(<SkillForm onSubmit={onSubmit} />);
    await userEvent.type(screen.getByLabelText("Name"), "dates");
    expect(screen.getByLabelText("Teacher prompt template")).toHaveAttribute("placeholder", FORMAT_TEMPLATE);
    await userEvent.click(screen.getByRole("button", { name: "Paper" }));
    expect(screen.getByLabelText("Teacher prompt template")).toHaveValue(PAPER_TEMPLATE);
    expect(screen.getByRole("button", { name: "Paper" })).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(screen.getByRole("button", { name: "Create skill" }));
    expect(onSubmit).toHaveBeenLastCalledWith(expect.objectContaining({ teacher_template: PAPER_TEMPLATE }));

    const byDefault = screen.getByRole("button", { name: "Same format as the example (default)" });
    await userEvent.click(byDefault);
    expect(screen.getByLabelText("Teacher prompt template")).toHaveValue("");
    expect(byDefault).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(screen.getByRole("button", { name: "Create skill" }));
    expect(onSubmit).toHaveBeenLastCalledWith(expect.objectContaining({ teacher_template: null }));
  });

  it("names a stored template in a word", () => {
    expect([null, PAPER_TEMPLATE, FORMAT_TEMPLATE, "{prompt} / {demonstration}"].map(templateLabel)).toEqual([
      "default",
      "paper",
      "same format",
      "custom",
    ]);
  });
});
