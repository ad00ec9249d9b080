import { expect, test, type Page } from "@playwright/test";
import { csrfHeaders } from "./auth";
import { jsonl, snap, uniqueName } from "./helpers";

/** Two small skills through the API (the skills UI has its own spec), scored with `contains`. */
async function seedSkill(page: Page, name: string, make: (i: number) => [string, string, string]) {
  // page.request shares the browser's session cookie; unsafe calls add its CSRF token.
  const request = page.request;
  const headers = await csrfHeaders(page.context());
  const created = await request.post("/api/skills", { data: { name, scorer: "contains", description: `e2e skill ${name}` }, headers });
  expect(created.status(), await created.text()).toBe(201);
  const skill = await created.json();
  const rows = Array.from({ length: 8 }, (_, i) => {
    const [prompt, response, reference] = make(i);
    return { prompt, response, reference, split: i % 4 === 0 ? "eval" : "train" };
  });
  const upload = await request.post(`/api/skills/${skill.id}/datasets`, {
    headers,
    multipart: { file: { name: `${name}.jsonl`, mimeType: "application/jsonl", buffer: Buffer.from(jsonl(rows)) } },
  });
  expect(upload.status()).toBe(201);
  return skill as { id: number; name: string };
}

async function queueSkill(page: Page, skillName: string, steps: number) {
  await page.getByRole("button", { name: "Queue a skill" }).click();
  const dialog = page.getByRole("dialog", { name: "Queue a skill" });
  await dialog.getByLabel("Skill", { exact: true }).selectOption({ label: skillName });
  await expect(dialog.getByLabel("Dataset version")).toHaveValue(/\d+/);
  // SDFT is preselected, with what our benchmark measured against SFT beside it.
  await expect(dialog.getByRole("note", { name: "What we measured" })).toContainText("SFT reached");
  await snap(page, "11a-queue-form-sdft");
  // SFT shows what the benchmark measured of its learning rate instead, and its own default rate.
  await dialog.getByRole("radio", { name: /^SFT/ }).check();
  await expect(dialog.getByRole("note", { name: "What we measured for SFT" })).toContainText("left empty, SFT's learning rate follows the model's size");
  await expect(dialog.getByLabel("Learning rate")).toHaveAttribute("placeholder", "auto");
  await snap(page, "11b-queue-form-sft");
  await dialog.getByRole("radio", { name: /^SDFT/ }).check();
  // Small and fast on the tiny model: short completions, traces every 2 steps.
  await dialog.getByLabel("Steps", { exact: true }).fill(String(steps));
  await dialog.getByLabel("Batch size").fill("2");
  await dialog.getByLabel("Max new tokens", { exact: true }).fill("12");
  await dialog.getByLabel("Trace every").fill("2");
  await dialog.getByLabel("Evaluation: max new tokens").fill("8");
  await dialog.getByLabel("General probe prompts").fill("8");
  await dialog.getByRole("button", { name: "Queue skill" }).click();
  await expect(dialog).toBeHidden();
}

test("queue two skills, watch a run live, inspect tokens, roll back, read the matrix", async ({ page }) => {
  test.setTimeout(600_000);
  const first = await seedSkill(page, uniqueName("greet"), (i) => [`Greet person ${i}`, `Hello, person ${i}!`, "Hello"]);
  const second = await seedSkill(page, uniqueName("shout"), (i) => [`Shout the word ${i}`, `WORD ${i}!`, "WORD"]);

  // Create a track on the tiny model.
  await page.goto("/tracks");
  await page.getByRole("button", { name: "New track" }).first().click();
  const trackName = uniqueName("e2e-track");
  const dialog = page.getByRole("dialog", { name: "New track" });
  await dialog.getByLabel("Name").fill(trackName);
  await dialog.getByLabel("Base model").fill("tiny");
  await dialog.getByRole("button", { name: "Create track" }).click();
  await expect(page.getByRole("heading", { name: trackName, level: 1 })).toBeVisible();
  const trackUrl = page.url();

  // The first run must still be going when the track page polls (every 2 s): 4 steps on the tiny
  // model end in half a second on a fast machine, before the page ever sees them running.
  await queueSkill(page, first.name, 60);
  await queueSkill(page, second.name, 4);
  await snap(page, "11-queue-form-done");

  // The first job runs (progress bar), the second waits in the queue.
  const running = page.getByTestId("running-job");
  await expect(running).toBeVisible({ timeout: 120_000 });
  await snap(page, "12-track-running");

  // Open the run while it is live.
  await running.getByRole("link").click();
  await expect(page).toHaveURL(/\/jobs\/\d+/);
  await expect(page.getByRole("figure", { name: "Loss" })).toBeVisible();
  await expect(page.locator("[data-state=succeeded]").first()).toBeVisible({ timeout: 240_000 });
  await expect(page.getByRole("figure", { name: "Loss" }).locator("path.recharts-line-curve")).toHaveCount(1);
  await snap(page, "13-run-finished");

  // Token inspector: the first stored rollout opens; focus a token, then pin one by clicking it.
  const rollouts = page.getByRole("table", { name: "Rollouts" });
  // A data row, not just the header: the last traces are stored in the run's final seconds.
  await expect(rollouts.getByRole("row").nth(1)).toBeVisible({ timeout: 30_000 });
  await rollouts.getByRole("row").nth(1).click();
  const tokens = page.getByTestId("token");
  await expect(tokens.first()).toBeVisible();
  // The pointer, left where the row was, may now rest on a token, whose hover would show instead.
  await page.mouse.move(0, 0);
  await tokens.first().focus();
  await page.keyboard.press("ArrowRight");
  await expect(page.getByTestId("token-detail")).toContainText("token 2 of");
  await tokens.nth(2).click();
  await expect(page).toHaveURL(/rollout=\d+&token=2/);
  await expect(page.getByRole("table", { name: "Teacher top 5" })).toBeVisible();
  await page.getByRole("radio", { name: "per-token divergence" }).click();
  await page.getByLabel("Token inspector").scrollIntoViewIfNeeded();
  await snap(page, "14-token-inspector");
  // The deep link reopens the same token.
  await page.reload();
  await expect(page.getByTestId("token-detail")).toContainText("token 3 of");

  // Back on the track: wait for both skills to finish.
  await page.goto(trackUrl);
  const history = page.getByRole("table", { name: "Finished jobs" });
  await expect(history.locator("[data-state=succeeded]")).toHaveCount(2, { timeout: 300_000 });
  const tree = page.getByRole("list", { name: "Checkpoints" });
  await expect(tree.getByRole("button")).toHaveCount(3);
  await expect(tree.getByRole("button", { name: new RegExp(`${second.name}, head`) })).toBeVisible();
  await snap(page, "15-track-two-skills");

  // Roll back to the first skill's checkpoint: the dialog says what changes.
  await tree.getByRole("button", { name: new RegExp(first.name) }).click();
  // The worker's memory estimate, worked out before training, is in the checkpoint's manifest.
  await expect(page.getByLabel(/^Checkpoint \d+$/)).toContainText(/about \d+(\.\d)? [GM]iB of tensors at the peak \(weights/);
  await page.getByRole("button", { name: "Roll back here" }).click();
  const changes = page.getByTestId("rollback-changes");
  await expect(changes).toContainText("The head moves from");
  await expect(changes).toContainText("kept");
  await snap(page, "16-rollback-confirm", { fullPage: false });
  await page.getByRole("button", { name: /^Roll back to #\d+$/ }).click();
  await expect(tree.getByRole("button", { name: new RegExp(`${first.name}, head`) })).toBeVisible();
  await snap(page, "17-track-rolled-back");

  // The regression matrix fills in as the evaluation jobs finish; a cell opens its samples.
  await page.getByRole("link", { name: "Regression matrix" }).click();
  const matrix = page.getByRole("table", { name: "Regression matrix" });
  await expect(matrix).toBeVisible();
  await expect(matrix.getByRole("button", { name: /open the samples/ }).first()).toBeVisible({ timeout: 300_000 });
  await expect(matrix.getByRole("button", { name: /learned here: open the samples/ })).toHaveCount(2, { timeout: 300_000 });
  await snap(page, "18-regression-matrix");
  await matrix.getByRole("button", { name: /learned here: open the samples/ }).first().click();
  const samples = page.getByRole("dialog");
  await expect(samples.getByRole("table", { name: "Samples" })).toBeVisible();
  await snap(page, "19-regression-samples", { fullPage: false });
});
