/** Response bodies shaped exactly like the backend's (typed by the generated schema). */
import type { DatasetPreview, DatasetVersion, Example } from "../queries/datasets";

export function example(index: number, overrides: Partial<Example> = {}): Example {
  return {
    index,
    line: index + 1,
    split: "train",
    prompt: [{ role: "user", content: `What is ${index} + ${index}?` }],
    demonstration: `Action: add\nAction Input: {"a": ${index}, "b": ${index}}`,
    context: null,
    reference: String(2 * index),
    flags: null,
    ...overrides,
  };
}

export function version(id: number, versionNumber: number, overrides: Partial<DatasetVersion> = {}): DatasetVersion {
  return {
    id,
    skill_id: 1,
    version: versionNumber,
    sha256: `${versionNumber}`.repeat(64).slice(0, 64),
    filename: `calc-v${versionNumber}.jsonl`,
    format: "jsonl",
    n_examples: 10,
    n_train: 8,
    n_eval: 2,
    n_rejected: 0,
    created_at: "2026-11-28T10:00:00Z",
    ...overrides,
  };
}

export function preview(overrides: Partial<DatasetPreview> = {}): DatasetPreview {
  return {
    format: "jsonl",
    n_examples: 3,
    n_train: 3,
    n_eval: 0,
    n_rejected: 0,
    errors: [],
    error_count: 0,
    flags: [],
    flag_count: 0,
    sha256: "ab".repeat(32),
    accepted_as_is: true,
    accepted_with_skip: true,
    existing_version: null,
    rows: [example(0), example(1), example(2)],
    ...overrides,
  };
}
