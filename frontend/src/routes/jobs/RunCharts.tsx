import { MetricChart, type ChartRow, type Series } from "../../components/MetricChart";
import { formatMetric } from "../../lib/format";
import type { StepMetrics } from "../../queries/jobs";

export function chartRows(steps: StepMetrics[]): ChartRow[] {
  return steps.map((step) => {
    const row: ChartRow = { step: step.step };
    for (const [key, value] of Object.entries(step.metrics)) if (typeof value === "number") row[key] = value;
    return row;
  });
}

const BLUE = "#2f6fed";
const ORANGE = "#e8590c";
const PURPLE = "#7048e8";
const GREEN = "#2b8a3e";
const GREY = "#868e96";

export function RunCharts({ steps, method }: { steps: StepMetrics[]; method: string }) {
  const rows = chartRows(steps);
  const sdft = method === "sdft";
  const panels: { title: string; series: Series[] }[] = [
    { title: "Loss", series: [{ key: "loss", label: "loss", color: BLUE }] },
    sdft
      ? {
          title: "Divergence (per token)",
          series: [
            { key: "divergence", label: "skill prompts", color: PURPLE },
            { key: "general_divergence", label: "general prompts", color: GREY, dashed: true },
          ],
        }
      : { title: "NLL (per token)", series: [{ key: "nll", label: "nll", color: PURPLE }] },
    {
      title: "Log-prob of the sampled tokens",
      series: [
        { key: "student_logprob", label: "student", color: BLUE },
        { key: "teacher_logprob", label: "teacher", color: ORANGE },
      ],
    },
    { title: "Entropy (student)", series: [{ key: "entropy", label: "entropy", color: GREEN }] },
    { title: "Gradient norm", series: [{ key: "grad_norm", label: "grad norm", color: GREY }] },
    { title: "Learning rate", series: [{ key: "lr", label: "lr", color: GREY }] },
  ];
  // Only runs whose rollouts came from vLLM have sampler log-probs, hence importance weights.
  if (rows.some((row) => typeof row.importance_weight === "number"))
    panels.push({
      title: "Importance weight (vLLM rollouts)",
      series: [
        { key: "importance_weight", label: "mean weight (capped)", color: ORANGE },
        { key: "importance_capped", label: "share capped", color: GREY, dashed: true },
      ],
    });
  return (
    <div className="chart-grid">
      {panels.map((panel) => (
        <MetricChart key={panel.title} title={panel.title} rows={rows} series={panel.series} />
      ))}
    </div>
  );
}

const PHASES = [
  { key: "rollout_s", label: "rollout (student samples)", color: "#4c6ef5" },
  { key: "teacher_s", label: "teacher scoring", color: "#f08c00" },
  { key: "student_s", label: "student forward + backward", color: "#37b24d" },
];

/** Where a step's time goes, averaged over the steps so far: on CPU the rollout usually dominates. */
export function TimingSplit({ steps }: { steps: StepMetrics[] }) {
  if (steps.length === 0) return <p className="small muted">No steps yet.</p>;
  const mean = (key: string) =>
    steps.reduce((sum, step) => sum + (typeof step.metrics[key] === "number" ? (step.metrics[key] as number) : 0), 0) / steps.length;
  const total = mean("step_s");
  const parts = PHASES.map((phase) => ({ ...phase, seconds: mean(phase.key) }));
  const other = Math.max(0, total - parts.reduce((sum, part) => sum + part.seconds, 0));
  const all = [...parts, { key: "other", label: "other (optimizer, EMA, bookkeeping)", color: "#ced4da", seconds: other }];
  const denominator = all.reduce((sum, part) => sum + part.seconds, 0) || 1;
  const tokensPerSecond = mean("tokens_per_s");
  return (
    <div className="stack" style={{ gap: 8 }}>
      <div className="timing-bar" role="img" aria-label={all.map((part) => `${part.label} ${formatMetric(part.seconds, 2)} s`).join(", ")}>
        {all.map((part) => (
          <span key={part.key} style={{ width: `${(part.seconds / denominator) * 100}%`, background: part.color }} />
        ))}
      </div>
      <table className="data timing-table">
        <tbody>
          {all.map((part) => (
            <tr key={part.key}>
              <td>
                <span className="swatch" style={{ background: part.color }} /> {part.label}
              </td>
              <td className="num mono">{formatMetric(part.seconds, 3)} s</td>
              <td className="num mono muted">{Math.round((part.seconds / denominator) * 100)}%</td>
            </tr>
          ))}
          <tr>
            <td>
              <b>step</b> <span className="muted small">mean of {steps.length}</span>
            </td>
            <td className="num mono">{formatMetric(total, 3)} s</td>
            <td className="num mono muted">{formatMetric(tokensPerSecond, 3)} tok/s</td>
          </tr>
        </tbody>
      </table>
    </div>
  );
}
