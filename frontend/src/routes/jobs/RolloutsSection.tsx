import { useEffect, useRef } from "react";
import { useSearchParams } from "react-router";
import { EmptyState, QueryView, SkeletonRows } from "../../components/states";
import { formatMetric } from "../../lib/format";
import type { TokenTrace } from "../../lib/tokenColors";
import { useRollouts, type RolloutTrace } from "../../queries/jobs";
import { EditDemonstrationButton } from "./EditDemonstration";
import { PromptPair, TokenInspector, type RolloutTraceBody } from "./TokenInspector";

const PAGE = 20;

function body(rollout: RolloutTrace): RolloutTraceBody {
  return rollout.trace as RolloutTraceBody;
}

function meanOf(tokens: TokenTrace[], value: (token: TokenTrace) => number): number | null {
  return tokens.length ? tokens.reduce((sum, token) => sum + value(token), 0) / tokens.length : null;
}

/**
 * The stored rollouts of a run and, for the one chosen, the token inspector. The choice lives in
 * the URL (?rollout=ID&token=N) so a token can be linked.
 */
export function RolloutsSection({ jobId, live, skipFirstTokens, traceEvery }: { jobId: number; live: boolean; skipFirstTokens: number; traceEvery: number | null }) {
  const [search, setSearch] = useSearchParams();
  const offset = Math.max(0, Number(search.get("offset")) || 0);
  const rollouts = useRollouts(jobId, offset, PAGE, { live });
  // Polling stops when the run ends; read once more so traces stored in its last seconds show.
  const wasLive = useRef(live);
  const { refetch } = rollouts;
  useEffect(() => {
    if (wasLive.current && !live) void refetch();
    wasLive.current = live;
  }, [live, refetch]);
  const selectedId = Number(search.get("rollout")) || null;
  const token = search.has("token") ? Number(search.get("token")) : null;

  function choose(next: Record<string, string | null>) {
    const params = new URLSearchParams(search);
    for (const [key, value] of Object.entries(next)) {
      if (value === null) params.delete(key);
      else params.set(key, value);
    }
    setSearch(params, { replace: true, preventScrollReset: true });
  }

  return (
    <QueryView query={rollouts} loading={<SkeletonRows rows={3} columns={5} />}>
      {(page) => {
        if (page.total === 0)
          return (
            <EmptyState title="No rollouts stored yet">
              {traceEvery
                ? `Every ${traceEvery} steps the run stores a few rollouts with per-token teacher and student log-probs.`
                : "This run does not store traces (trace_every is 0). Queue it again with “Trace every” set to see the token inspector."}
            </EmptyState>
          );
        const selected = page.items.find((item) => item.id === selectedId) ?? (selectedId === null ? page.items[0] : undefined);
        return (
          <div className="stack">
            <div className="table-wrap">
              <table className="data" aria-label="Rollouts">
                <thead>
                  <tr>
                    <th className="num">Step</th>
                    <th className="num">Sample</th>
                    <th>Completion</th>
                    <th className="num">Tokens</th>
                    <th className="num">Mean Δ</th>
                    <th className="num">Mean divergence</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((item) => {
                    const trace = body(item);
                    const tokens = trace.tokens ?? [];
                    const isSelected = item.id === selected?.id;
                    return (
                      <tr
                        key={item.id}
                        className={isSelected ? "selected clickable" : "clickable"}
                        onClick={() => choose({ rollout: String(item.id), token: null })}
                      >
                        <td className="num mono">{item.step}</td>
                        <td className="num mono">
                          {item.sample_index}
                          {trace.general && <span className="badge" style={{ marginLeft: 4 }}>general</span>}
                        </td>
                        <td className="clip mono">
                          <button
                            type="button"
                            className="link-button"
                            aria-pressed={isSelected}
                            onClick={(event) => {
                              event.stopPropagation();
                              choose({ rollout: String(item.id), token: null });
                            }}
                          >
                            {(trace.completion ?? "").slice(0, 140) || "∅"}
                          </button>
                        </td>
                        <td className="num">{tokens.length}</td>
                        <td className="num mono">{formatMetric(meanOf(tokens, (t) => t.teacher_logprob - t.student_logprob), 3)}</td>
                        <td className="num mono">{formatMetric(meanOf(tokens, (t) => t.divergence), 3)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
            {page.total > PAGE && (
              <div className="pager">
                <span className="small muted">
                  {offset + 1}–{Math.min(offset + PAGE, page.total)} of {page.total}
                </span>
                <button type="button" className="btn small" disabled={offset === 0} onClick={() => choose({ offset: String(Math.max(0, offset - PAGE)) })}>
                  Previous
                </button>
                <button type="button" className="btn small" disabled={offset + PAGE >= page.total} onClick={() => choose({ offset: String(offset + PAGE) })}>
                  Next
                </button>
              </div>
            )}
            {selected && (
              <section className="stack" aria-label="Token inspector" id="inspector">
                <div className="row" style={{ justifyContent: "space-between" }}>
                  <h3>
                    Token inspector <span className="muted small">step {selected.step}, sample {selected.sample_index}</span>
                  </h3>
                  <EditDemonstrationButton jobId={jobId} rollout={selected} />
                </div>
                <TokenInspector
                  key={selected.id}
                  trace={body(selected)}
                  pinned={token}
                  skipFirstTokens={skipFirstTokens}
                  onPin={(index) => choose({ rollout: String(selected.id), token: String(index) })}
                />
                <PromptPair trace={body(selected)} />
              </section>
            )}
          </div>
        );
      }}
    </QueryView>
  );
}
