import { useRef, type KeyboardEvent } from "react";
import { formatMetric, timeAgo } from "../../lib/format";
import { layoutTree, pathTo } from "../../lib/treeLayout";
import type { CheckpointNode } from "../../queries/tracks";

const ROW = 40;
const LANE = 18;
const PAD = 14;

/**
 * The track's checkpoints as a graph: one row per checkpoint, branches in their own lanes, the head
 * ringed, the path from the base to the head drawn solid and every other branch dimmed. Rows are
 * buttons (arrow keys move between them).
 */
export function CheckpointTree({
  checkpoints,
  headId,
  selectedId,
  onSelect,
  skillName,
}: {
  checkpoints: CheckpointNode[];
  headId: number | null;
  selectedId: number | null;
  onSelect: (checkpointId: number) => void;
  skillName: (skillId: number | null) => string;
}) {
  const { placed, lanes } = layoutTree(checkpoints);
  const onHeadPath = new Set(pathTo(checkpoints, headId));
  const listRef = useRef<HTMLOListElement>(null);
  const gutter = PAD * 2 + (lanes - 1) * LANE;
  const x = (lane: number) => PAD + lane * LANE;
  const y = (row: number) => row * ROW + ROW / 2;

  function onKeyDown(event: KeyboardEvent, row: number) {
    const delta = event.key === "ArrowDown" ? 1 : event.key === "ArrowUp" ? -1 : 0;
    if (!delta) return;
    event.preventDefault();
    const buttons = listRef.current?.querySelectorAll<HTMLButtonElement>("button.tree-row");
    buttons?.[Math.min(Math.max(row + delta, 0), placed.length - 1)]?.focus();
  }

  return (
    <div className="tree" style={{ minHeight: placed.length * ROW }}>
      <svg className="tree-gutter" width={gutter} height={placed.length * ROW} aria-hidden="true">
        {placed.map((p) => {
          if (p.parentRow === null || p.parentLane === null) return null;
          const px = x(p.parentLane);
          const py = y(p.parentRow);
          const cx = x(p.lane);
          const cy = y(p.row);
          const d =
            p.lane === p.parentLane
              ? `M ${px} ${py} L ${cx} ${cy}`
              : `M ${px} ${py} C ${px} ${py + ROW * 0.6}, ${cx} ${py + ROW * 0.2}, ${cx} ${py + ROW * 0.8} L ${cx} ${cy}`;
          const live = onHeadPath.has(p.node.id);
          return <path key={`e${p.node.id}`} d={d} className={live ? "edge live" : "edge"} />;
        })}
        {placed.map((p) => {
          const isHead = p.node.id === headId;
          return (
            <g key={`n${p.node.id}`}>
              {isHead && <circle cx={x(p.lane)} cy={y(p.row)} r={8.5} className="head-ring" />}
              <circle
                cx={x(p.lane)}
                cy={y(p.row)}
                r={5}
                className={`node ${p.node.kind === "base" ? "base" : p.node.method ?? ""} ${onHeadPath.has(p.node.id) ? "live" : "dim"}`}
              />
            </g>
          );
        })}
      </svg>
      <ol className="tree-rows" ref={listRef} aria-label="Checkpoints">
        {placed.map((p) => {
          const checkpoint = p.node;
          const isHead = checkpoint.id === headId;
          const loss = typeof checkpoint.metrics.loss === "number" ? checkpoint.metrics.loss : null;
          const label = checkpoint.kind === "base" ? "base model" : skillName(checkpoint.skill_id);
          return (
            <li key={checkpoint.id} style={{ height: ROW }}>
              <button
                type="button"
                className={checkpoint.id === selectedId ? "tree-row selected" : "tree-row"}
                style={{ paddingLeft: gutter }}
                aria-pressed={checkpoint.id === selectedId}
                aria-label={`Checkpoint ${checkpoint.id}: ${label}${isHead ? ", head" : ""}`}
                onClick={() => onSelect(checkpoint.id)}
                onKeyDown={(event) => onKeyDown(event, p.row)}
              >
                <span className="mono muted">#{checkpoint.id}</span>
                <span className={onHeadPath.has(checkpoint.id) ? "tree-label" : "tree-label dim"}>{label}</span>
                {checkpoint.method && <span className={`badge method-${checkpoint.method}`}>{checkpoint.method}</span>}
                {isHead && <span className="badge head">HEAD</span>}
                {checkpoint.promotion && checkpoint.promotion !== "promoted" && <PromotionBadge state={checkpoint.promotion} />}
                <span className="spacer" />
                {loss !== null && <span className="small muted num nowrap">loss {formatMetric(loss, 3)}</span>}
                <span className="small faint nowrap">{timeAgo(checkpoint.created_at)}</span>
              </button>
            </li>
          );
        })}
      </ol>
    </div>
  );
}

const PROMOTION: Record<string, { tone: string; label: string; title: string }> = {
  pending: { tone: "badge info", label: "awaiting evaluation", title: "becomes head once its evaluation is within the retention budget" },
  held: { tone: "badge bad", label: "held", title: "its evaluation broke the retention budget: kept, not made head" },
  forced: { tone: "badge warn", label: "forced", title: "promoted past the retention budget by a person" },
};

export function PromotionBadge({ state }: { state: string }) {
  const known = PROMOTION[state];
  return (
    <span className={known?.tone ?? "badge"} title={known?.title}>
      {known?.label ?? state}
    </span>
  );
}
