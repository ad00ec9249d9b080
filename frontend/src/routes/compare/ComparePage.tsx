import { useSearchParams } from "react-router";
import { MetricChart } from "../../components/MetricChart";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState, ErrorState, Loading } from "../../components/states";
import { formatMetric } from "../../lib/format";
import { useCheckpointEvaluations } from "../../queries/evaluations";
import { useJob, useJobs, type JobDetail } from "../../queries/jobs";
import { latestSteps } from "../../lib/jobStream";
import { useSkillNames } from "../tracks/TrackDetailPage";
import { percent, points } from "../regression/heat";
import { compareEvaluations, klOf, mergeRuns } from "./merge";

const COLORS = { a: "#2f6fed", b: "#e8590c" };

/** Two runs (say SDFT and SFT on the same data) on shared charts and one table of evaluations. */
export function ComparePage() {
  const [search, setSearch] = useSearchParams();
  const jobs = useJobs();
  const skillName = useSkillNames();
  const a = Number(search.get("a")) || null;
  const b = Number(search.get("b")) || null;
  const training = (jobs.data ?? []).filter((job) => job.kind === "train").sort((x, y) => y.id - x.id);

  const picker = (side: "a" | "b", value: number | null) => (
    <label className="compare-pick">
      <span className="swatch" style={{ background: COLORS[side] }} />
      <span className="sr-only">Run {side.toUpperCase()}</span>
      <select
        aria-label={`Run ${side.toUpperCase()}`}
        value={value ?? ""}
        onChange={(event) => {
          const next = new URLSearchParams(search);
          if (event.target.value) next.set(side, event.target.value);
          else next.delete(side);
          setSearch(next, { replace: true });
        }}
      >
        <option value="">choose a run…</option>
        {training.map((job) => (
          <option key={job.id} value={job.id}>
            #{job.id} · {skillName(job.skill_id)} · {job.method} · {job.state}
          </option>
        ))}
      </select>
    </label>
  );

  return (
    <div className="page">
      <PageHeader title="Compare runs" actions={<div className="row">{picker("a", a)}{picker("b", b)}</div>}>
        Put two runs side by side, e.g. SDFT and SFT on the same dataset version from the same checkpoint. Training losses of different
        methods measure different things; the evaluations below are the fair comparison.
      </PageHeader>
      {jobs.isPending ? (
        <Loading />
      ) : jobs.isError ? (
        <ErrorState error={jobs.error} onRetry={() => void jobs.refetch()} />
      ) : training.length < 2 ? (
        <div className="card">
          <EmptyState title="Two runs are needed">Train a skill twice (for instance once with SDFT and once with SFT) to compare them here.</EmptyState>
        </div>
      ) : a === null || b === null ? (
        <div className="card">
          <EmptyState title="Choose two runs">Pick run A and run B above; the choice is kept in the URL.</EmptyState>
        </div>
      ) : (
        <Comparison a={a} b={b} skillName={skillName} />
      )}
    </div>
  );
}

function Comparison({ a, b, skillName }: { a: number; b: number; skillName: (id: number | null) => string }) {
  const runA = useJob(a);
  const runB = useJob(b);
  if (runA.isPending || runB.isPending) return <Loading label="Loading runs…" />;
  if (runA.isError) return <ErrorState error={runA.error} />;
  if (runB.isError) return <ErrorState error={runB.error} />;
  return <ComparisonBody a={runA.data} b={runB.data} skillName={skillName} />;
}

function ComparisonBody({ a, b, skillName }: { a: JobDetail; b: JobDetail; skillName: (id: number | null) => string }) {
  const rows = mergeRuns(latestSteps(a.steps), latestSteps(b.steps));
  const evalA = useCheckpointEvaluations(a.result_checkpoint_id);
  const evalB = useCheckpointEvaluations(b.result_checkpoint_id);
  const label = (job: JobDetail, side: "a" | "b") => `${side.toUpperCase()} #${job.id} ${job.method}`;
  const series = (metric: string) => [
    { key: `a:${metric}`, label: label(a, "a"), color: COLORS.a },
    { key: `b:${metric}`, label: label(b, "b"), color: COLORS.b },
  ];
  const compared = compareEvaluations(evalA.data ?? [], evalB.data ?? []);
  const sameStart = a.start_checkpoint_id !== null && a.start_checkpoint_id === b.start_checkpoint_id;
  const sameData = a.dataset_version_id === b.dataset_version_id;

  return (
    <>
      {(!sameStart || !sameData) && (
        <div className="notice warn" role="status">
          {!sameData && "The runs trained on different dataset versions. "}
          {!sameStart && "The runs started from different checkpoints. "}
          The comparison is still drawn, but it is not like for like.
        </div>
      )}
      <div className="chart-grid">
        <MetricChart title="Training loss (each method's own objective)" rows={rows} series={series("loss")} />
        <MetricChart title="Log-prob of the sampled tokens (student)" rows={rows} series={series("student_logprob")} />
        <MetricChart title="Entropy (student)" rows={rows} series={series("entropy")} />
      </div>
      <section className="card">
        <div className="card-header">
          <h2>Evaluations of the resulting checkpoints</h2>
          <span className="small muted">
            A → #{a.result_checkpoint_id ?? "—"} · B → #{b.result_checkpoint_id ?? "—"}
          </span>
        </div>
        {evalA.isPending && a.result_checkpoint_id !== null ? (
          <Loading />
        ) : compared.length === 0 ? (
          <EmptyState title="No evaluations yet">The runs' checkpoints are evaluated after training; results appear here when they end.</EmptyState>
        ) : (
          <div className="table-wrap">
            <table className="data" aria-label="Evaluations compared">
              <thead>
                <tr>
                  <th>Evaluated on</th>
                  <th className="num">{label(a, "a")}</th>
                  <th className="num">{label(b, "b")}</th>
                  <th className="num">B − A</th>
                </tr>
              </thead>
              <tbody>
                {compared.map((row) => (
                  <tr key={row.key}>
                    <td>{row.skillId === null ? "general probe (prior capabilities)" : skillName(row.skillId)}</td>
                    <td className="num mono">{percent(row.a)}</td>
                    <td className="num mono">{percent(row.b)}</td>
                    <td className="num mono">{row.a !== null && row.b !== null ? points(row.b - row.a) : "—"}</td>
                  </tr>
                ))}
                <tr>
                  <td>KL from the base model (general prompts)</td>
                  <td className="num mono">{formatMetric(klOf(evalA.data ?? []), 3)}</td>
                  <td className="num mono">{formatMetric(klOf(evalB.data ?? []), 3)}</td>
                  <td />
                </tr>
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
