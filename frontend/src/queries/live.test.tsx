import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { vi } from "vitest";
import { renderWithProviders } from "../test/render";
import { useRegression } from "./evaluations";

const server = await vi.hoisted(async () => (await import("../test/fakeServer")).installFakeServer());

/** A matrix that polls while `live`; the button is the jobs query seeing the last job end. */
function Matrix({ initiallyLive }: { initiallyLive: boolean }) {
  const [live, setLive] = useState(initiallyLive);
  const matrix = useRegression(7, { live });
  return (
    <>
      <p>{matrix.data ? `${matrix.data.skills.length} skills` : "loading"}</p>
      <button type="button" onClick={() => setLive(false)}>
        jobs ended
      </button>
    </>
  );
}

const regressionGets = () => server.requests.filter((request) => request.url.endsWith("/api/tracks/7/regression")).length;
let skills: { id: number; name: string }[] = [];

beforeEach(() => {
  server.requests = [];
  skills = [{ id: 1, name: "A" }];
  server.routes = [["GET", /\/api\/tracks\/7\/regression$/, () => ({ track_id: 7, skills, checkpoints: [] })]];
});

describe("useRegression", () => {
  it("fetches once more when the jobs it waited for end, so rows written after its last poll show", async () => {
    renderWithProviders(<Matrix initiallyLive />);
    expect(await screen.findByText("1 skills")).toBeInTheDocument();
    expect(regressionGets()).toBe(1);

    // The evaluation records its last skill; the jobs query sees it finished before the next poll.
    skills = [...skills, { id: 2, name: "B" }];
    await userEvent.click(screen.getByRole("button", { name: "jobs ended" }));
    expect(await screen.findByText("2 skills")).toBeInTheDocument();
    expect(regressionGets()).toBe(2);
  });

  it("does not fetch again when nothing was live", async () => {
    renderWithProviders(<Matrix initiallyLive={false} />);
    expect(await screen.findByText("1 skills")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "jobs ended" }));
    expect(screen.getByText("1 skills")).toBeInTheDocument();
    expect(regressionGets()).toBe(1);
  });
});
