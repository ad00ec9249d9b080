import type { Locator, Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** tests/e2e/screenshots/ at the repository root (git-ignored): look at them after a run. */
export const SCREENSHOT_DIR =
  process.env.SCREENSHOT_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../tests/e2e/screenshots");
mkdirSync(SCREENSHOT_DIR, { recursive: true });

/** A full-page screenshot; a dialog is shot at viewport size, where its fixed backdrop belongs. */
export async function snap(page: Page, name: string, { fullPage = true }: { fullPage?: boolean } = {}): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage });
}

/** A name no earlier run used: e2e runs share one database with whatever else the harness does. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4)}`;
}

export function jsonl(rows: unknown[]): string {
  return rows.map((row) => (typeof row === "string" ? row : JSON.stringify(row))).join("\n") + "\n";
}

/** Drops a file on an element the way a user's drag-and-drop does (a real `drop` with a DataTransfer). */
export async function dropFile(page: Page, target: Locator, name: string, content: string, mimeType = "application/jsonl") {
  const dataTransfer = await page.evaluateHandle(
    ({ name, content, mimeType }) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([content], name, { type: mimeType }));
      return transfer;
    },
    { name, content, mimeType },
  );
  await target.dispatchEvent("dragenter", { dataTransfer });
  await target.dispatchEvent("drop", { dataTransfer });
}
