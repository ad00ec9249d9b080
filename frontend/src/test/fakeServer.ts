/**
 * A fake backend at the fetch boundary for component tests. openapi-fetch keeps the fetch it saw
 * when the client was created, so install it in `vi.hoisted`, before anything imports the client:
 *
 *   const server = await vi.hoisted(async () => (await import("../../test/fakeServer")).installFakeServer());
 *
 * A handler returns a body (200) or `[status, body]` (`[204, null]` for no content); every request is
 * kept (cloned) for asserts.
 */
export type Handler = (request: Request) => unknown;

export interface FakeServer {
  routes: [method: string, path: RegExp, handler: Handler][];
  requests: Request[];
}

export function installFakeServer(): FakeServer {
  const state: FakeServer = { routes: [], requests: [] };
  const fetchMock = async (input: Request) => {
    const request = input instanceof Request ? input : new Request(String(input));
    state.requests.push(request.clone());
    const path = new URL(request.url).pathname;
    const route = state.routes.find(([method, pattern]) => method === request.method && pattern.test(path));
    if (!route) return new Response(JSON.stringify({ detail: { code: "not_found", message: `no route ${path}` } }), { status: 404 });
    const body = await route[2](request);
    const [status, payload] = Array.isArray(body) && typeof body[0] === "number" ? body : [200, body];
    // A 204 (No Content) carries no body at all, as the backend's DELETEs answer.
    if (status === 204) return new Response(null, { status });
    return new Response(JSON.stringify(payload), { status, headers: { "Content-Type": "application/json" } });
  };
  globalThis.fetch = fetchMock as typeof fetch;
  return state;
}
