import type { ReactNode } from "react";

/** One labelled number in a `.stats` strip. */
export function Stat({ label, value, tone }: { label: string; value: ReactNode; tone?: "ok" | "bad" | "warn" | undefined }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className={tone ? `stat-value ${tone}` : "stat-value"}>{value}</div>
    </div>
  );
}
