import { render, screen } from "@testing-library/react";
import type { StepMetrics } from "../../queries/jobs";
import { RunCharts } from "./RunCharts";

const step = (index: number, extra: Record<string, number> = {}): StepMetrics =>
  ({ step: index, metrics: { loss: 1 / index, divergence: 0.5 / index, lr: 2e-5, ...extra } }) as unknown as StepMetrics;

test("the importance-weight panel appears only for runs whose rollouts came from vLLM", () => {
  const { unmount } = render(<RunCharts steps={[step(1), step(2)]} method="sdft" />);
  expect(screen.getByRole("figure", { name: "Loss" })).toBeInTheDocument();
  expect(screen.queryByRole("figure", { name: "Importance weight (vLLM rollouts)" })).toBeNull();
  unmount();

  render(
    <RunCharts
      steps={[step(1, { importance_weight: 1.0, importance_capped: 0 }), step(2, { importance_weight: 1.3, importance_capped: 0.25 })]}
      method="sdft"
    />,
  );
  expect(screen.getByRole("figure", { name: "Importance weight (vLLM rollouts)" })).toBeInTheDocument();
});
