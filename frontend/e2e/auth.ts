import type { BrowserContext } from "@playwright/test";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const AUTH_STATE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../test-results/.auth/state.json");

/**
 * Who the suite logs in as when the server has accounts: APPRENTICE_USERNAME (default `admin`) and
 * APPRENTICE_PASSWORD, or the first-start file the server writes (APPRENTICE_PASSWORD_FILE, e.g.
 * data/admin-password.txt: "username: admin\npassword: ...").
 */
export function credentials(): { username: string; password: string } {
  let username = process.env.APPRENTICE_USERNAME ?? "admin";
  let password = process.env.APPRENTICE_PASSWORD ?? "";
  const file = process.env.APPRENTICE_PASSWORD_FILE;
  if (!password && file && existsSync(file)) {
    const text = readFileSync(file, "utf8");
    username = /^username:\s*(\S+)/m.exec(text)?.[1] ?? username;
    password = /^password:\s*(\S+)/m.exec(text)?.[1] ?? "";
  }
  if (!password)
    throw new Error("the server wants a login: set APPRENTICE_PASSWORD or APPRENTICE_PASSWORD_FILE (or run it with AUTH_DISABLED=1)");
  return { username, password };
}

/** Headers for an unsafe API call made with the browser's session cookie (the CSRF token). */
export async function csrfHeaders(context: BrowserContext): Promise<Record<string, string>> {
  const csrf = (await context.cookies()).find((cookie) => cookie.name === "apprentice_csrf");
  return csrf ? { "X-CSRF-Token": csrf.value } : {};
}
