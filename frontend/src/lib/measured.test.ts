import measured from "../generated/measured.json";
import { pct, perSeed, seedCount, value } from "./measured";

test("a claim renders as its mean, its seeds' values and how many seeds it rests on", () => {
  expect(value("qwen_seq_sdft_mix_probe")).toBe(measured.claims.qwen_seq_sdft_mix_probe.percent);
  expect(pct("qwen_seq_sdft_mix_probe")).toBe(`${measured.claims.qwen_seq_sdft_mix_probe.percent}\u00a0%`);
  const values = measured.claims.qwen_seq_sdft_mix_probe.per_seed;
  expect(values).toHaveLength(2);
  expect(perSeed("qwen_seq_sdft_mix_probe")).toBe(`${values[0]} and ${values[1]}\u00a0%`);
  expect(seedCount("qwen_seq_sdft_mix_probe")).toBe("2 seeds");
});

test("a single-seed claim says so", () => {
  expect(measured.claims.qwen_seq_sft_probe.seeds).toHaveLength(1);
  expect(seedCount("qwen_seq_sft_probe")).toBe("one seed");
  expect(perSeed("qwen_seq_sft_probe")).toBe(pct("qwen_seq_sft_probe"));
});
