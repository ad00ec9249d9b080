import { expect, test } from "@playwright/test";
import { csrfHeaders } from "./auth";
import { snap, uniqueName } from "./helpers";

test("chat with a tiny checkpoint, then compare two side by side", async ({ page }) => {
  test.setTimeout(240_000);
  // A fresh tiny track through the API: its base checkpoint is the head, ready to answer.
  await page.goto("/playground");
  const created = await page.request.post("/api/tracks", {
    data: { name: uniqueName("e2e-playground"), base_model: "tiny" },
    headers: await csrfHeaders(page.context()),
  });
  expect(created.status(), await created.text()).toBe(201);
  const track = (await created.json()) as { id: number; head_checkpoint_id: number };

  await page.goto(`/playground?a=${track.head_checkpoint_id}`);
  await expect(page.getByLabel("Pane A checkpoint")).toHaveValue(String(track.head_checkpoint_id));
  await page.getByLabel("Max new tokens").fill("12");
  const composer = page.getByLabel("Message", { exact: true });
  await composer.fill("Say hello in three words.");
  await composer.press("Control+Enter");
  const answerA = page.getByTestId("answer-a").first();
  await expect(answerA.getByTestId("elapsed")).toBeVisible();
  await expect(answerA).toContainText(/\d+ tokens · [\d.]+ s/, { timeout: 120_000 });
  await snap(page, "20-playground-answer");

  // Deep link keeps the choice; pane B on the same checkpoint answers the next turn too.
  await page.getByRole("button", { name: "Compare side by side" }).click();
  await expect(page).toHaveURL(new RegExp(`b=${track.head_checkpoint_id}`));
  await composer.fill("And now in two?");
  await page.getByRole("button", { name: "Send to both" }).click();
  await expect(page.getByTestId("answer-a").nth(1)).toContainText(/tokens ·/, { timeout: 120_000 });
  await expect(page.getByTestId("answer-b").nth(1)).toContainText(/tokens ·/, { timeout: 120_000 });
  await snap(page, "21-playground-compare");

  // Narrow: the panes stack.
  await page.setViewportSize({ width: 600, height: 900 });
  await snap(page, "22-playground-narrow");
});
