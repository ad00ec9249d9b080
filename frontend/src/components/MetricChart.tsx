import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatMetric } from "../lib/format";

export interface Series {
  key: string;
  label: string;
  color: string;
  dashed?: boolean;
}

export type ChartRow = Record<string, number | null | undefined> & { step: number };

/** A small-multiple line chart of step metrics, W&B style: thin lines, light grid, shared step axis. */
export function MetricChart({
  title,
  rows,
  series,
  height = 180,
  scale = "auto",
}: {
  title: string;
  rows: ChartRow[];
  series: Series[];
  height?: number;
  scale?: "auto" | "log";
}) {
  const present = series.filter((s) => rows.some((row) => typeof row[s.key] === "number"));
  return (
    <figure className="chart card" aria-label={title}>
      <figcaption className="chart-title">{title}</figcaption>
      {present.length === 0 ? (
        <div className="chart-empty small muted" style={{ height }}>
          no data yet
        </div>
      ) : (
        <ResponsiveContainer width="100%" height={height}>
          <LineChart data={rows} margin={{ top: 6, right: 12, bottom: 0, left: 0 }}>
            <CartesianGrid stroke="#eef0f3" vertical={false} />
            <XAxis dataKey="step" type="number" domain={["dataMin", "dataMax"]} tick={{ fontSize: 11 }} tickLine={false} allowDecimals={false} />
            <YAxis
              tick={{ fontSize: 11 }}
              tickLine={false}
              axisLine={false}
              width={52}
              scale={scale}
              domain={["auto", "auto"]}
              tickFormatter={(value: number) => formatMetric(value, 4)}
            />
            <Tooltip
              formatter={(value) => formatMetric(typeof value === "number" ? value : Number(value), 4)}
              labelFormatter={(step) => `step ${step}`}
              contentStyle={{ fontSize: 12, borderRadius: 6 }}
            />
            {present.length > 1 && <Legend wrapperStyle={{ fontSize: 11 }} iconType="plainline" />}
            {present.map((s) => (
              <Line
                key={s.key}
                type="linear"
                dataKey={s.key}
                name={s.label}
                stroke={s.color}
                strokeDasharray={s.dashed ? "4 3" : undefined}
                strokeWidth={1.6}
                dot={rows.length < 30 ? { r: 2 } : false}
                isAnimationActive={false}
                connectNulls
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      )}
    </figure>
  );
}
