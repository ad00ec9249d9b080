import { expect, test } from "@playwright/test";
import { credentials } from "./auth";
import { snap } from "./helpers";

// A fresh browser: no session cookie.
test.use({ storageState: { cookies: [], origins: [] } });

test("the login page guards the app, refuses a wrong password and returns to the deep link", async ({ page }) => {
  const me = await page.request.get("/api/auth/me");
  if (me.ok()) {
    // AUTH_DISABLED: single-user mode, the login page just forwards.
    expect((await me.json()).auth).toBe("disabled");
    await page.goto("/login?next=/tracks");
    await expect(page).toHaveURL(/\/tracks$/);
    await expect(page.getByText("single-user mode")).toBeVisible();
    return;
  }
  await page.goto("/tracks?x=1");
  await expect(page).toHaveURL(/\/login\?next=%2Ftracks%3Fx%3D1$/);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Wrong username or password.");
  await snap(page, "00-login-refused");

  const { username, password } = credentials();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/tracks\?x=1$/);
  await expect(page.getByTestId("username")).toHaveText(username);

  // Account: an API token is shown once, listed by its prefix, and can be revoked.
  await page.getByTestId("username").click();
  await page.getByLabel("Name").fill("e2e token");
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = (await page.getByTestId("token-secret").textContent()) ?? "";
  expect(secret.length).toBeGreaterThan(20);
  const row = page.getByRole("table", { name: "API tokens" }).getByRole("row").filter({ hasText: "e2e token" }).first();
  await expect(row).toContainText(secret.slice(0, 6));
  await snap(page, "00-account");
  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(row).toContainText("revoked");

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/skills");
  await expect(page).toHaveURL(/\/login\?next=%2Fskills$/);
});
