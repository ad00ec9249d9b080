import { chromium, type FullConfig } from "@playwright/test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { AUTH_STATE, credentials } from "./auth";

/**
 * Logs in once through the real login page when the server wants a login, and saves the session
 * for every test. A server run with AUTH_DISABLED needs nothing: an empty state is saved.
 */
export default async function globalSetup(config: FullConfig) {
  const project = config.projects[0]!;
  const baseURL = project.use.baseURL!;
  mkdirSync(path.dirname(AUTH_STATE), { recursive: true });
  const browser = await chromium.launch(project.use.launchOptions);
  try {
    const context = await browser.newContext({ baseURL });
    const page = await context.newPage();
    const me = await page.request.get("/api/auth/me");
    if (me.status() === 401) {
      const { username, password } = credentials();
      await page.goto("/login");
      await page.getByLabel("Username").fill(username);
      await page.getByLabel("Password").fill(password);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("heading", { name: "Skills", level: 1 }).waitFor();
    } else if (!me.ok()) {
      throw new Error(`GET /api/auth/me answered ${me.status()}: is the server at ${baseURL} up?`);
    }
    await context.storageState({ path: AUTH_STATE });
  } finally {
    await browser.close();
  }
  if (!existsSync(AUTH_STATE)) writeFileSync(AUTH_STATE, JSON.stringify({ cookies: [], origins: [] }));
}
