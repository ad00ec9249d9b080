import { describe, expect, it } from "vitest";
import { describeMemoryEstimate } from "./memory";

describe("describeMemoryEstimate", () => {
  it("names the peak and its parts as the worker estimated them", () => {
    const manifest = {
      memory_estimate_gib: {
        weights: 2.35,
        teacher_copies: 4.7,
        gradients: 2.35,
        optimizer: 4.7,
        activations: 3.72,
        head_chunk: 0.58,
        head_gradient: 0.53,
        certain: 14.1,
        peak: 14.1,
      },
    };
    expect(describeMemoryEstimate(manifest)).toBe(
      "about 14.1 GiB of tensors at the peak (weights 2.4 GiB · teacher copies 4.7 GiB · AdamW 4.7 GiB · gradients 2.4 GiB · activations 3.7 GiB · logit chunk 594 MiB · head gradient 543 MiB), estimated before training",
    );
  });

  it("leaves out parts under 1% of the peak (a LoRA adapter's), gives MiB below 1 GiB, and per process", () => {
    const manifest = {
      num_gpus: 2,
      memory_estimate_gib: { weights: 0.5, teacher_copies: 0.008, gradients: 0.004, optimizer: 0.008, activations: 0.3, peak: 0.9 },
    };
    expect(describeMemoryEstimate(manifest)).toBe(
      "about 922 MiB of tensors at the peak per process (weights 512 MiB · activations 307 MiB), estimated before training",
    );
  });

  it("says nothing for checkpoints written before estimates existed", () => {
    expect(describeMemoryEstimate({})).toBeNull();
    expect(describeMemoryEstimate({ memory_estimate_gib: {} })).toBeNull();
  });
});
