import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";

// A fake backend at the fetch boundary, installed before any module creates the API client.
const server = await vi.hoisted(async () => (await import("../../test/fakeServer")).installFakeServer());

import type { Session, User } from "../../queries/account";
import { renderWithProviders } from "../../test/render";
import { describeAgent, SessionsList } from "./SessionsList";
import { UsersAdmin } from "./UsersAdmin";

const now = new Date().toISOString();
const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";
const firefox = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:131.0) Gecko/20100101 Firefox/131.0";

function session(id: number, agent: string, current = false): Session {
  return { id, created_at: now, last_used_at: now, expires_at: now, user_agent: agent, client_ip: "192.0.2.7", current };
}

function user(id: number, username: string, extra: Partial<User> = {}): User {
  return { id, username, is_superuser: false, is_active: true, created_at: now, ...extra };
}

beforeEach(() => {
  server.routes = [];
  server.requests = [];
});

describe("describeAgent", () => {
  it("names the browser and system, or shows the raw agent", () => {
    expect(describeAgent(chrome)).toBe("Chrome on Linux");
    expect(describeAgent(firefox)).toBe("Firefox on macOS");
    expect(describeAgent("")).toBe("unknown browser");
    expect(describeAgent("python-httpx/0.28")).toBe("python-httpx/0.28");
  });
});

describe("SessionsList", () => {
  it("lists sessions, marks this browser, and ends another one", async () => {
    let sessions = [session(4, chrome, true), session(5, firefox)];
    server.routes.push(["GET", /\/api\/auth\/sessions$/, () => sessions]);
    server.routes.push(["DELETE", /\/api\/auth\/sessions\/5$/, () => {
      sessions = sessions.filter((s) => s.id !== 5);
      return [204, null];
    }]);
    renderWithProviders(<SessionsList />);

    const table = await screen.findByRole("table", { name: "Browser sessions" });
    const rows = within(table).getAllByRole("row");
    expect(rows[1]).toHaveTextContent("Chrome on Linux");
    expect(rows[1]).toHaveTextContent("this browser");
    expect(rows[1]).toHaveTextContent("192.0.2.7");
    expect(rows[2]).toHaveTextContent("Firefox on macOS");
    expect(within(rows[1]!).getByRole("button", { name: "Sign out" })).toBeInTheDocument();

    await userEvent.click(within(rows[2]!).getByRole("button", { name: "End" }));
    await waitFor(() => expect(within(table).getAllByRole("row")).toHaveLength(2));
    expect(server.requests.some((r) => r.method === "DELETE" && r.url.endsWith("/api/auth/sessions/5"))).toBe(true);
  });
});

describe("UsersAdmin", () => {
  it("offers no disable or delete on your own account", async () => {
    server.routes.push(["GET", /\/api\/users$/, () => [user(1, "admin", { is_superuser: true }), user(2, "bob")]]);
    renderWithProviders(<UsersAdmin myId={1} />);
    const table = await screen.findByRole("table", { name: "Users" });
    const [, mine, bobs] = within(table).getAllByRole("row");
    expect(mine).toHaveTextContent("(you)");
    expect(within(mine!).queryByRole("button", { name: "Disable" })).toBeNull();
    expect(within(mine!).queryByRole("button", { name: "Delete…" })).toBeNull();
    expect(within(bobs!).getByRole("button", { name: "Disable" })).toBeInTheDocument();
  });

  it("disables, resets a password and deletes only after a confirmation", async () => {
    let bob = user(2, "bob");
    server.routes.push(["GET", /\/api\/users$/, () => [user(1, "admin", { is_superuser: true }), bob]]);
    server.routes.push(["POST", /\/api\/users\/2\/disable$/, () => (bob = { ...bob, is_active: false })]);
    server.routes.push(["POST", /\/api\/users\/2\/password$/, () => [204, null]]);
    server.routes.push(["DELETE", /\/api\/users\/2$/, () => [204, null]]);
    renderWithProviders(<UsersAdmin myId={1} />);
    const table = await screen.findByRole("table", { name: "Users" });
    const bobsRow = () => within(table).getAllByRole("row")[2]!;

    await userEvent.click(within(bobsRow()).getByRole("button", { name: "Disable" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Disabled bob");
    await waitFor(() => expect(bobsRow()).toHaveTextContent("disabled"));
    expect(within(bobsRow()).getByRole("button", { name: "Enable" })).toBeInTheDocument();

    await userEvent.click(within(bobsRow()).getByRole("button", { name: "Reset password" }));
    const form = screen.getByRole("form", { name: "New password for bob" });
    await userEvent.type(within(form).getByPlaceholderText(/new password/), "a fresh long password");
    await userEvent.click(within(form).getByRole("button", { name: "Set" }));
    expect(await screen.findByRole("status")).toHaveTextContent("New password set for bob");
    const reset = server.requests.find((r) => r.url.endsWith("/api/users/2/password"))!;
    expect(await reset.json()).toEqual({ new_password: "a fresh long password" });

    await userEvent.click(within(bobsRow()).getByRole("button", { name: "Delete…" }));
    expect(server.requests.some((r) => r.method === "DELETE")).toBe(false);
    await userEvent.click(within(bobsRow()).getByRole("button", { name: "Delete bob" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Deleted bob");
    expect(server.requests.some((r) => r.method === "DELETE" && r.url.endsWith("/api/users/2"))).toBe(true);
  });

  it("shows the server's refusal", async () => {
    server.routes.push(["GET", /\/api\/users$/, () => [user(1, "admin", { is_superuser: true }), user(2, "bob")]]);
    server.routes.push(["POST", /\/api\/users\/2\/disable$/, () => [409, { detail: { code: "conflict", message: "cannot disable the last active server admin" } }]]);
    renderWithProviders(<UsersAdmin myId={1} />);
    const table = await screen.findByRole("table", { name: "Users" });
    await userEvent.click(within(within(table).getAllByRole("row")[2]!).getByRole("button", { name: "Disable" }));
    expect(await screen.findByText(/last active server admin/)).toBeInTheDocument();
  });
});
