/**
 * What our learning benchmark measured, for the forms that quote it. The numbers come from
 * ../generated/measured.json, which `python -m bench.learning_claims` computes from bench/results (a
 * pytest fails when it is stale), so a quoted number cannot drift from the results files. Claim names
 * are checked by the type system: a misspelt one does not compile.
 */
import measured from "../generated/measured.json";

export type ClaimName = keyof typeof measured.claims;

/** 52: the claim's mean over its seeds, a whole percentage (for "22 / 10 / 18 %"). */
export function value(name: ClaimName): number {
  return measured.claims[name].percent;
}

/** "52 %", with a no-break space so that a line never ends between the number and its unit. */
export function pct(name: ClaimName): string {
  return `${value(name)}\u00a0%`;
}

/** "28 and 75 %": the claim's value on each seed. */
export function perSeed(name: ClaimName): string {
  const values = measured.claims[name].per_seed;
  return `${values.slice(0, -1).join(", ")}${values.length > 1 ? " and " : ""}${values.at(-1)}\u00a0%`;
}

/** "one seed" or "2 seeds": how many runs the claim's number rests on. */
export function seedCount(name: ClaimName): string {
  const count = measured.claims[name].seeds.length;
  return count === 1 ? "one seed" : `${count} seeds`;
}
