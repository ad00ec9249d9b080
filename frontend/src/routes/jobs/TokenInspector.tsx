import { useMemo, useRef, useState, type KeyboardEvent } from "react";
import { formatMetric } from "../../lib/format";
import {
  MODE_LABELS,
  scaleFor,
  textColorOn,
  tokenColor,
  tokenValue,
  visibleToken,
  type ColorMode,
  type Scale,
  type TokenTrace,
} from "../../lib/tokenColors";

export interface RolloutTraceBody {
  prompt?: string;
  teacher_prompt?: string;
  demonstration?: string;
  completion?: string;
  general?: boolean;
  tokens?: TokenTrace[];
}

/**
 * Every completion token coloured by the teacher signal. Hover, focus (arrow keys move) or click a
 * token to see both log-probs, the divergence and both sides' top alternatives; a click also puts
 * the token in the URL so it can be linked.
 */
export function TokenInspector({
  trace,
  pinned,
  onPin,
  skipFirstTokens,
}: {
  trace: RolloutTraceBody;
  pinned: number | null;
  onPin: (index: number) => void;
  skipFirstTokens: number;
}) {
  const tokens = trace.tokens ?? [];
  const [mode, setMode] = useState<ColorMode>("delta");
  const [hovered, setHovered] = useState<number | null>(null);
  const [focused, setFocused] = useState<number>(pinned ?? 0);
  const scale = useMemo(() => scaleFor(tokens, mode), [tokens, mode]);
  const listRef = useRef<HTMLDivElement>(null);
  const active = hovered ?? pinned ?? focused;
  const activeToken = tokens[active];

  function move(event: KeyboardEvent, index: number) {
    const targets: Record<string, number> = {
      ArrowRight: index + 1,
      ArrowLeft: index - 1,
      Home: 0,
      End: tokens.length - 1,
    };
    const next = targets[event.key];
    if (next === undefined) return;
    event.preventDefault();
    const clamped = Math.max(0, Math.min(tokens.length - 1, next));
    setFocused(clamped);
    listRef.current?.querySelectorAll<HTMLButtonElement>("button.tok")[clamped]?.focus();
  }

  if (tokens.length === 0) return <p className="muted">This rollout has no token trace.</p>;
  const deltas = tokens.map((token) => tokenValue(token, "delta"));
  const meanDelta = deltas.reduce((a, b) => a + b, 0) / deltas.length;
  const meanDivergence = tokens.reduce((a, token) => a + token.divergence, 0) / tokens.length;
  const teacherPrefers = deltas.filter((delta) => delta > 0).length / tokens.length;

  return (
    <div className="inspector">
      <div className="inspector-toolbar">
        <div className="segmented-buttons" role="radiogroup" aria-label="Colour tokens by">
          {(Object.keys(MODE_LABELS) as ColorMode[]).map((key) => (
            <button key={key} type="button" role="radio" aria-checked={mode === key} className={mode === key ? "on" : ""} onClick={() => setMode(key)}>
              {MODE_LABELS[key]}
            </button>
          ))}
        </div>
        <Legend scale={scale} />
      </div>
      <div className="inspector-stats small muted">
        <span>{tokens.length} tokens</span>
        <span>
          mean Δ <b className="mono">{formatMetric(meanDelta, 3)}</b> nats
        </span>
        <span>
          mean divergence <b className="mono">{formatMetric(meanDivergence, 3)}</b>
        </span>
        <span>teacher prefers {Math.round(teacherPrefers * 100)}% of tokens</span>
        {trace.general && <span className="badge">general prompt</span>}
      </div>
      <div className="inspector-body">
        <div
          className="token-stream"
          ref={listRef}
          role="group"
          aria-label="Completion tokens; arrow keys move between tokens"
          onMouseLeave={() => setHovered(null)}
        >
          {tokens.map((token, index) => {
            const background = tokenColor(tokenValue(token, mode), scale);
            const skipped = index < skipFirstTokens;
            const newline = token.token.includes("\n");
            return (
              <span key={index} className="tok-wrap">
                <button
                  type="button"
                  className={["tok", index === active ? "active" : "", index === pinned ? "pinned" : "", skipped ? "skipped" : ""].join(" ")}
                  style={{ background, color: textColorOn(background) }}
                  tabIndex={index === focused ? 0 : -1}
                  aria-label={`token ${index + 1}: ${JSON.stringify(token.token)}, ${MODE_LABELS[mode]} ${formatMetric(tokenValue(token, mode), 3)}`}
                  aria-pressed={index === pinned}
                  onMouseEnter={() => setHovered(index)}
                  onFocus={() => setFocused(index)}
                  onClick={() => onPin(index)}
                  onKeyDown={(event) => move(event, index)}
                  data-testid="token"
                >
                  {visibleToken(token.token)}
                </button>
                {newline && <br />}
              </span>
            );
          })}
        </div>
        {activeToken && <TokenDetail token={activeToken} index={active} total={tokens.length} skipped={active < skipFirstTokens} />}
      </div>
    </div>
  );
}

function Legend({ scale }: { scale: Scale }) {
  const gradient = `linear-gradient(to right, ${scale.stops.join(", ")})`;
  const labels =
    scale.mode === "delta"
      ? ["teacher less likely", "agree", "teacher more likely"]
      : scale.mode === "divergence"
        ? ["low", "", "high"]
        : ["unlikely", "", "certain"];
  return (
    <div className="legend" aria-label={`Legend: ${MODE_LABELS[scale.mode]} from ${formatMetric(scale.min, 2)} to ${formatMetric(scale.max, 2)}`}>
      <div className="legend-bar" style={{ background: gradient }} />
      <div className="legend-ticks small muted">
        <span className="mono">{formatMetric(scale.min, 2)}</span>
        <span>{labels[0]}</span>
        <span>{labels[1]}</span>
        <span>{labels[2]}</span>
        <span className="mono">{formatMetric(scale.max, 2)}</span>
      </div>
    </div>
  );
}

export function TokenDetail({ token, index, total, skipped }: { token: TokenTrace; index: number; total: number; skipped: boolean }) {
  const delta = token.teacher_logprob - token.student_logprob;
  return (
    <aside className="token-detail" aria-live="polite" data-testid="token-detail">
      <div className="row">
        <code className="token-chip">{JSON.stringify(token.token)}</code>
        <span className="small muted">
          token {index + 1} of {total}
        </span>
        {skipped && (
          <span className="badge warn" title="The first completion tokens are left out of the loss (skip_first_tokens)">
            not in loss
          </span>
        )}
      </div>
      <dl className="kv small">
        <dt>student log-prob</dt>
        <dd className="mono">
          {formatMetric(token.student_logprob, 4)} <span className="muted">(p = {percent(token.student_logprob)})</span>
        </dd>
        <dt>teacher log-prob</dt>
        <dd className="mono">
          {formatMetric(token.teacher_logprob, 4)} <span className="muted">(p = {percent(token.teacher_logprob)})</span>
        </dd>
        <dt>teacher − student</dt>
        <dd className={`mono ${delta > 0 ? "pos" : delta < 0 ? "neg" : ""}`}>{formatMetric(delta, 4)}</dd>
        <dt>divergence</dt>
        <dd className="mono">{formatMetric(token.divergence, 4)}</dd>
      </dl>
      <div className="top-grid">
        <TopList title="Student top 5" entries={token.student_top} sampled={token.token} />
        <TopList title="Teacher top 5" entries={token.teacher_top} sampled={token.token} />
      </div>
    </aside>
  );
}

function percent(logprob: number): string {
  const p = Math.exp(logprob) * 100;
  return p >= 1 ? `${p.toFixed(1)}%` : `${p.toPrecision(2)}%`;
}

function TopList({ title, entries, sampled }: { title: string; entries: [string, number][]; sampled: string }) {
  return (
    <table className="data top-list" aria-label={title}>
      <thead>
        <tr>
          <th colSpan={2}>{title}</th>
        </tr>
      </thead>
      <tbody>
        {entries.map(([text, logprob], index) => (
          <tr key={index} className={text === sampled ? "sampled" : undefined}>
            <td className="mono">{JSON.stringify(text)}</td>
            <td className="num mono">{percent(logprob)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The teacher prompt with the demonstration marked, beside the student's prompt. */
export function PromptPair({ trace }: { trace: RolloutTraceBody }) {
  const teacher = trace.teacher_prompt ?? "";
  const demonstration = trace.demonstration ?? "";
  const at = demonstration ? teacher.indexOf(demonstration) : -1;
  return (
    <div className="grid-2">
      <section className="stack" style={{ gap: 6 }}>
        <h3>Student prompt</h3>
        <pre className="block prompt">{trace.prompt}</pre>
      </section>
      <section className="stack" style={{ gap: 6 }}>
        <h3>
          Teacher prompt <span className="small muted">(demonstration highlighted)</span>
        </h3>
        <pre className="block prompt">
          {at >= 0 ? (
            <>
              {teacher.slice(0, at)}
              <mark>{demonstration}</mark>
              {teacher.slice(at + demonstration.length)}
            </>
          ) : (
            teacher
          )}
        </pre>
      </section>
    </div>
  );
}
