import { expect, test } from "@playwright/test";
import { csrfHeaders } from "./auth";
import { jsonl, snap, uniqueName } from "./helpers";

/**
 * From a bad rollout to a better demonstration: a short run on the tiny model stores traces; the
 * token inspector's "Edit as demonstration" saves an edited rollout as the skill's next version and
 * queues a short follow-up job on it. Skill, track and first job come through the API (their own
 * specs cover the forms).
 */
test("edit a rollout into a demonstration, save a new version, queue a follow-up job", async ({ page }) => {
  test.setTimeout(420_000);
  const request = page.request;
  const headers = await csrfHeaders(page.context());
  const name = uniqueName("fix");
  const created = await request.post("/api/skills", { data: { name, scorer: "contains", description: "e2e edit-as-demonstration" }, headers });
  expect(created.status(), await created.text()).toBe(201);
  const skill = (await created.json()) as { id: number };
  const rows = Array.from({ length: 6 }, (_, i) => ({ prompt: `Name the colour ${i}`, response: `Colour ${i} is blue.`, reference: "blue" }));
  const upload = await request.post(`/api/skills/${skill.id}/datasets`, {
    headers,
    multipart: { file: { name: `${name}.jsonl`, mimeType: "application/jsonl", buffer: Buffer.from(jsonl(rows)) } },
  });
  expect(upload.status(), await upload.text()).toBe(201);
  const version = (await upload.json()) as { id: number; version: number };

  const track = await request.post("/api/tracks", { data: { name: uniqueName("fix-track"), base_model: "tiny" }, headers });
  expect(track.status(), await track.text()).toBe(201);
  const trackId = ((await track.json()) as { id: number }).id;
  const job = await request.post(`/api/tracks/${trackId}/jobs`, {
    headers,
    data: {
      skill_id: skill.id,
      dataset_version_id: version.id,
      method: "sdft",
      queue: "cpu",
      evaluate: false,
      config: { steps: 4, batch_size: 2, max_new_tokens: 12, trace_every: 2 },
    },
  });
  expect(job.status(), await job.text()).toBe(202);
  const jobId = ((await job.json()) as { id: number }).id;

  await page.goto(`/jobs/${jobId}`);
  await expect(page.locator("[data-state=succeeded]").first()).toBeVisible({ timeout: 240_000 });
  const rolloutsTable = page.getByRole("table", { name: "Rollouts" });
  await expect(rolloutsTable.getByRole("row").nth(1)).toBeVisible({ timeout: 30_000 });
  await rolloutsTable.getByRole("row").nth(1).click();

  await page.getByRole("button", { name: "Edit as demonstration" }).click();
  const dialog = page.getByRole("dialog", { name: "Edit as demonstration" });
  await expect(dialog.getByTestId("demonstration-prompt")).toContainText("Name the colour");
  await dialog.getByLabel("Demonstration", { exact: true }).fill("The colour is blue.");
  await dialog.getByLabel("Reference answer").fill("blue");
  await snap(page, "21-edit-demonstration", { fullPage: false });
  await dialog.getByRole("button", { name: "Save as new version" }).click();

  const saved = page.getByRole("dialog", { name: "Demonstration saved" });
  await expect(saved.getByRole("status").first()).toContainText(`version ${version.version + 1}`);
  await expect(saved.getByLabel("Steps")).toHaveValue("1"); // a quarter of the run's 4 steps
  await saved.getByRole("button", { name: "Queue follow-up job" }).click();
  const followUp = saved.getByRole("link", { name: /^job #\d+$/ });
  await expect(followUp).toBeVisible();
  await snap(page, "22-follow-up-queued", { fullPage: false });

  // The new version holds the old rows plus the edit; the old version is unchanged.
  const versions = (await (await request.get(`/api/skills/${skill.id}/datasets`)).json()) as { id: number; n_examples: number }[];
  expect(versions.map((v) => v.n_examples).sort()).toEqual([6, 7]);
  // The follow-up trains the new version on the same track with the run's settings, fewer steps.
  await followUp.click();
  await expect(page).toHaveURL(/\/jobs\/\d+/);
  const followUpId = Number(new URL(page.url()).pathname.split("/").pop());
  const detail = (await (await request.get(`/api/jobs/${followUpId}`)).json()) as {
    track_id: number;
    dataset_version_id: number;
    config: Record<string, unknown>;
  };
  expect(detail.track_id).toBe(trackId);
  expect(detail.dataset_version_id).not.toBe(version.id);
  expect(detail.config).toMatchObject({ steps: 1, batch_size: 2, max_new_tokens: 12 });
  await expect(page.locator("[data-state=succeeded]").first()).toBeVisible({ timeout: 240_000 });
});
