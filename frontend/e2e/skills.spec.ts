import { expect, test } from "@playwright/test";
import { dropFile, jsonl, snap, uniqueName } from "./helpers";

const good = (n: number, offset = 0) =>
  Array.from({ length: n }, (_, i) => ({
    prompt: `What is ${i + offset} + ${i + offset}?`,
    response: `Action: add\nAction Input: {"a": ${i + offset}, "b": ${i + offset}}`,
    reference: String(2 * (i + offset)),
    split: i % 5 === 4 ? "eval" : "train",
  }));

test("create a skill, upload a file with errors, fix it, add a version, diff them", async ({ page }) => {
  const skillName = uniqueName("calc-tool");

  await page.goto("/skills");
  await expect(page.getByRole("heading", { name: "Skills", level: 1 })).toBeVisible();
  await snap(page, "01-skills-list");

  // Create the skill.
  await page.getByRole("button", { name: "New skill" }).first().click();
  const dialog = page.getByRole("dialog", { name: "New skill" });
  await dialog.getByLabel("Name").fill(skillName);
  await dialog.getByLabel("Description").fill("Call the add tool in the paper's Action / Action Input format.");
  await dialog.getByLabel("Scorer").selectOption("tool_calls");
  await expect(dialog.getByRole("button", { name: "Same format as the example (default)" })).toHaveAttribute("aria-pressed", "true");
  await snap(page, "02-skill-create-dialog", { fullPage: false });
  await dialog.getByRole("button", { name: "Create skill" }).click();
  await expect(page).toHaveURL(/\/skills\/\d+$/);
  await expect(page.getByRole("heading", { name: skillName, level: 1 })).toBeVisible();
  await expect(page.getByText("No versions yet")).toBeVisible();
  // No template given: the skill trains with the default one, shown in full.
  const teacherPrompt = page.getByRole("region", { name: "Teacher prompt" });
  await expect(teacherPrompt.getByText("default", { exact: true })).toBeVisible();
  await expect(teacherPrompt).toContainText("Answer in exactly the same format as this example answer:");

  // A file with two bad lines: an empty response (line 3) and an unknown role (line 5).
  const rows = good(6);
  const broken = jsonl([
    rows[0],
    rows[1],
    { prompt: "What is 9 + 9?", response: "" },
    rows[2],
    { messages: [{ role: "robot", content: "hi" }, { role: "assistant", content: "hello" }] },
    rows[3],
    rows[4],
    rows[5],
  ]);
  await dropFile(page, page.getByRole("button", { name: /Drop a demonstrations file here/ }), "calc-broken.jsonl", broken);
  const verdict = page.getByTestId("preview-verdict");
  await expect(verdict).toContainText("problem");
  const errors = page.getByRole("table", { name: "Validation errors" });
  await expect(errors.getByRole("row")).toHaveCount(3); // header + 2 errors
  await expect(errors.getByRole("cell", { name: "3", exact: true })).toBeVisible();
  await expect(errors.getByRole("cell", { name: "5", exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: /Upload 6 valid rows, skip 2/ })).toBeVisible();
  await snap(page, "03-upload-preview-with-errors");

  // Fix the file and check it again: it is accepted as is.
  await page.getByRole("button", { name: "Choose another file" }).click();
  await page.getByTestId("file-input").setInputFiles({
    name: "calc.jsonl",
    mimeType: "application/jsonl",
    buffer: Buffer.from(jsonl(rows)),
  });
  await expect(verdict).toContainText("Ready: 6 rows");
  await expect(page.getByText("JSONL", { exact: true })).toBeVisible();
  await snap(page, "04-upload-preview-clean");
  await page.getByRole("button", { name: "Upload 6 rows" }).click();
  await expect(page.getByTestId("upload-result")).toContainText("Stored as version 1");
  const versions = page.getByRole("table", { name: "Dataset versions" });
  await expect(versions.getByRole("link", { name: "v1" })).toBeVisible();

  // The same rows again, as CSV: identical content is recognised, nothing new is stored.
  const csv =
    "prompt,response,reference,split\n" +
    rows.map((row) => [row.prompt, row.response, row.reference, row.split].map((v) => `"${v.replace(/"/g, '""')}"`).join(",")).join("\n") +
    "\n";
  await page.getByTestId("file-input").setInputFiles({ name: "calc.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await expect(verdict).toContainText("Identical to version 1");

  // A second version: two rows removed, three added.
  await page.getByRole("button", { name: "Choose another file" }).click();
  const second = [...rows.slice(0, 4), ...good(3, 100)];
  await page.getByTestId("file-input").setInputFiles({ name: "calc-v2.jsonl", mimeType: "application/jsonl", buffer: Buffer.from(jsonl(second)) });
  await page.getByRole("button", { name: "Upload 7 rows" }).click();
  await expect(page.getByTestId("upload-result")).toContainText("Stored as version 2");
  await expect(versions.getByRole("link", { name: "v2" })).toBeVisible();
  await snap(page, "05-skill-with-versions");

  // Diff the two versions.
  await page.getByLabel("Select version 1 for a diff").check();
  await page.getByLabel("Select version 2 for a diff").check();
  await page.getByRole("button", { name: "Compare selected" }).click();
  await expect(page).toHaveURL(/\/diff\/\d+\/\d+$/);
  const changes = page.getByRole("table", { name: "Rows added and removed" });
  await expect(changes.locator("tr.diff-added")).toHaveCount(3);
  await expect(changes.locator("tr.diff-removed")).toHaveCount(2);
  await snap(page, "06-version-diff");

  // Deep link to version 1's rows survives a reload (client-side routing served by the backend).
  await page.getByRole("link", { name: skillName }).click();
  await versions.getByRole("link", { name: "v1" }).click();
  await expect(page.getByRole("heading", { name: "Version 1" })).toBeVisible();
  await page.reload();
  await expect(page.getByRole("heading", { name: "Version 1" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Rows of this version" }).getByRole("row")).toHaveCount(7);
  await snap(page, "07-version-rows");

  // A narrow window: the navigation collapses behind a toggle, the content still fits.
  await page.setViewportSize({ width: 420, height: 860 });
  await page.goto(page.url().replace(/\/versions\/.*$/, ""));
  await expect(page.getByRole("heading", { name: skillName, level: 1 })).toBeVisible();
  await snap(page, "08-skill-narrow");
  await page.getByRole("button", { name: "Toggle navigation" }).click();
  await expect(page.getByRole("link", { name: "Tracks" })).toBeVisible();
  await snap(page, "09-nav-narrow-open");
});

test("unknown pages and unknown skills show designed states", async ({ page }) => {
  await page.goto("/no/such/page");
  await expect(page.getByText("Page not found")).toBeVisible();
  await page.goto("/skills/999999");
  await expect(page.getByRole("alert")).toContainText("does not exist");
  await snap(page, "10-skill-not-found");
});
