import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import { Dropzone } from "./Dropzone";

describe("Dropzone", () => {
  it("takes a dropped file", () => {
    const onFile = vi.fn();
    render(<Dropzone onFile={onFile} />);
    const zone = screen.getByRole("button", { name: /Drop a demonstrations file here/ });
    const file = new File(['{"prompt":"a","response":"b"}\n'], "demo.jsonl");
    fireEvent.dragEnter(zone, { dataTransfer: { files: [file] } });
    expect(zone).toHaveClass("dragging");
    fireEvent.drop(zone, { dataTransfer: { files: [file] } });
    expect(onFile).toHaveBeenCalledWith(file);
    expect(zone).not.toHaveClass("dragging");
  });

  it("opens the file chooser from the keyboard and takes the chosen file", async () => {
    const onFile = vi.fn();
    render(<Dropzone onFile={onFile} />);
    const input = screen.getByLabelText("Choose a demonstrations file") as HTMLInputElement;
    const clicked = vi.spyOn(input, "click");
    screen.getByRole("button", { name: /Drop a demonstrations file here/ }).focus();
    await userEvent.keyboard("{Enter}");
    expect(clicked).toHaveBeenCalled();
    const file = new File(["prompt,response\na,b\n"], "demo.csv", { type: "text/csv" });
    await userEvent.upload(input, file);
    expect(onFile).toHaveBeenCalledWith(file);
  });

  it("ignores drops while disabled", () => {
    const onFile = vi.fn();
    render(<Dropzone onFile={onFile} disabled />);
    fireEvent.drop(screen.getByRole("button"), { dataTransfer: { files: [new File(["x"], "x.jsonl")] } });
    expect(onFile).not.toHaveBeenCalled();
  });
});
