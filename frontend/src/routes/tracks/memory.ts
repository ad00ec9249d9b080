const PARTS: [string, string][] = [
  ["weights", "weights"],
  ["teacher_copies", "teacher copies"],
  ["optimizer", "AdamW"],
  ["gradients", "gradients"],
  ["activations", "activations"],
  ["head_chunk", "logit chunk"],
  ["head_gradient", "head gradient"],
];

/** GiB with one decimal from 1 GiB, MiB below (as the worker's own messages put it). */
function size(gib: number): string {
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${Math.round(gib * 1024)} MiB`;
}

/**
 * The memory estimate the worker wrote into a checkpoint's manifest before training
 * (worker/sdft/memory.py, GiB by part), in words; null for checkpoints made without one.
 * Parts under 1% of the peak (a LoRA adapter's AdamW state) are left out.
 */
export function describeMemoryEstimate(manifest: Record<string, unknown>): string | null {
  const estimate = manifest.memory_estimate_gib;
  if (!estimate || typeof estimate !== "object") return null;
  const gib = estimate as Record<string, unknown>;
  const value = (key: string) => (typeof gib[key] === "number" ? (gib[key] as number) : null);
  const peak = value("peak");
  if (peak === null) return null;
  const parts = PARTS.filter(([key]) => (value(key) ?? 0) >= peak / 100).map(
    ([key, label]) => `${label} ${size(value(key) as number)}`,
  );
  const perProcess = typeof manifest.num_gpus === "number" && manifest.num_gpus > 1 ? " per process" : "";
  return `about ${size(peak)} of tensors at the peak${perProcess}${parts.length ? ` (${parts.join(" · ")})` : ""}, estimated before training`;
}
