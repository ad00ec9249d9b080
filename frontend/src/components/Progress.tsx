/** A determinate bar when the fraction is known, an indeterminate one while the server works. */
export function ProgressBar({ fraction, label }: { fraction: number | null; label: string }) {
  const percent = fraction === null ? undefined : Math.round(Math.min(1, Math.max(0, fraction)) * 100);
  return (
    <div className="stack" style={{ gap: 4 }}>
      <div className="row small muted">
        <span>{label}</span>
        <span className="spacer" />
        {percent !== undefined && <span className="num">{percent}%</span>}
      </div>
      <div
        className={percent === undefined ? "progress indeterminate" : "progress"}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
      >
        <span style={percent === undefined ? undefined : { width: `${percent}%` }} />
      </div>
    </div>
  );
}
