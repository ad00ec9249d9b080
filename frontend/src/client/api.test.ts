import { ApiError, toApiError, unwrap } from "./api";

describe("toApiError", () => {
  it("reads the backend's domain error with its row errors", () => {
    const error = toApiError(422, {
      detail: {
        code: "invalid_dataset",
        message: "2 rows are invalid",
        errors: [{ line: 3, field: "response", message: "is empty" }],
        error_count: 2,
      },
    });
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(422);
    expect(error.code).toBe("invalid_dataset");
    expect(error.message).toBe("2 rows are invalid");
    expect(error.errors).toEqual([{ line: 3, field: "response", message: "is empty" }]);
    expect(error.errorCount).toBe(2);
  });

  it("turns FastAPI's validation list into field errors", () => {
    const error = toApiError(422, { detail: [{ loc: ["body", "name"], msg: "String should have at least 1 character" }] });
    expect(error.code).toBe("validation_error");
    expect(error.message).toBe("name: String should have at least 1 character");
    expect(error.errors[0]?.field).toBe("name");
  });

  it("says the server is unreachable when there is no answer", () => {
    expect(toApiError(0, null).message).toBe("Cannot reach the server");
    expect(toApiError(502, "<html>").message).toBe("Request failed (502)");
  });
});

describe("unwrap", () => {
  it("returns data on success and throws an ApiError otherwise", async () => {
    const ok = new Response("{}", { status: 200 });
    await expect(unwrap(Promise.resolve({ data: { id: 1 }, response: ok }))).resolves.toEqual({ id: 1 });
    const conflict = new Response("{}", { status: 409 });
    await expect(
      unwrap(Promise.resolve({ error: { detail: { code: "conflict", message: "name taken" } }, response: conflict })),
    ).rejects.toMatchObject({ status: 409, code: "conflict", message: "name taken" });
    await expect(unwrap(Promise.reject(new TypeError("Failed to fetch")))).rejects.toMatchObject({ status: 0, code: "network" });
  });
});
