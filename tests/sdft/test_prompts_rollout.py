"""Teacher prompts carry the demonstration and student prompts do not; rollouts hold only new tokens."""

from __future__ import annotations

import torch

from worker.sdft.batching import pack
from worker.sdft.config import PAPER_TEACHER_TEMPLATE
from worker.sdft.data import Example
from worker.sdft.prompts import build_prompt_pair, fill_template, teacher_messages
from worker.sdft.rollout import TransformersRolloutEngine, cut_at_eos

EXAMPLE = Example(
    prompt=[{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in {city}?"}],
    demonstration='Action: weather\nAction Input: {"city": "Paris"}',
)


def test_teacher_prompt_round_trip(tiny) -> None:
    pair = build_prompt_pair(tiny.tokenizer, EXAMPLE, template=PAPER_TEACHER_TEMPLATE)
    assert EXAMPLE.demonstration in pair.teacher_text
    assert EXAMPLE.demonstration not in pair.student_text
    assert "This is an example for a response to the question:" in pair.teacher_text
    # Braces in prompts and demonstrations are text, not template fields.
    assert "Weather in {city}?" in pair.student_text and "Weather in {city}?" in pair.teacher_text
    # The system turn is shared; only the last user turn differs.
    assert pair.student_text.count("Use tools.") == pair.teacher_text.count("Use tools.") == 1
    assert tiny.tokenizer.decode(pair.student_ids) == pair.student_text
    assert tiny.tokenizer.decode(pair.teacher_ids) == pair.teacher_text
    assert pair.student_text.endswith("<|im_start|>assistant\n")
    assert pair.teacher_text.endswith("<|im_start|>assistant\n")


def test_context_fills_its_slot_or_follows_the_prompt() -> None:
    assert (
        fill_template("{context}|{prompt}|{demonstration}", prompt="p", demonstration="d", context="c")
        == "c|p|d"
    )
    assert fill_template("{prompt}|{demonstration}", prompt="p", demonstration="d", context="c") == "p\n\nc|d"
    assert fill_template(
        "{prompt}|{demonstration}", prompt="{demonstration}", demonstration="d", context=None
    ) == ("{demonstration}|d")
    with_context = Example(
        prompt=[{"role": "user", "content": "Q"}], demonstration="A", context="Article text"
    )
    assert (
        "Q\n\nArticle text\n\nAnswer in exactly the same format"
        in teacher_messages(with_context)[-1]["content"]
    )


def test_cut_at_eos_keeps_the_eos_and_drops_what_follows() -> None:
    assert cut_at_eos([5, 6, 2, 2, 2], [2]).token_ids == [5, 6, 2]
    assert cut_at_eos([5, 6, 2, 2, 2], [2]).ended
    assert not cut_at_eos([5, 6, 7], [2]).ended


def _greedy_by_hand(model, prompt: list[int], steps: int) -> list[int]:
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(steps):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    return ids[len(prompt) :]


def test_rollouts_hold_only_new_tokens_and_left_padding_changes_nothing(tiny) -> None:
    short = build_prompt_pair(
        tiny.tokenizer,
        Example(prompt=[{"role": "user", "content": "Hi"}], demonstration="x"),
        template=PAPER_TEACHER_TEMPLATE,
    )
    long = build_prompt_pair(tiny.tokenizer, EXAMPLE, template=PAPER_TEACHER_TEMPLATE)
    engine = TransformersRolloutEngine()
    completions = engine.generate(
        tiny.model,
        [short.student_ids, long.student_ids],
        eos_token_ids=[-1],  # never stop early: compare full lengths
        pad_token_id=tiny.pad_token_id,
        max_new_tokens=6,
        temperature=0.0,
    )
    assert completions[0].token_ids == _greedy_by_hand(tiny.model, short.student_ids, 6)
    assert completions[1].token_ids == _greedy_by_hand(tiny.model, long.student_ids, 6)


def test_length_buckets_return_completions_in_the_prompts_order(tiny) -> None:
    prompts = [[5, 6, 7, 8, 9, 10, 11], [3], [12, 13, 14, 15, 16], [4, 17]]
    options = {
        "eos_token_ids": [-1],
        "pad_token_id": tiny.pad_token_id,
        "max_new_tokens": 4,
        "temperature": 0.0,
    }
    bucketed = TransformersRolloutEngine(batch_size=2, bucket_by_length=True).generate(
        tiny.model, prompts, **options
    )
    expected = [_greedy_by_hand(tiny.model, prompt, 4) for prompt in prompts]
    assert [completion.token_ids for completion in bucketed] == expected


def test_sampling_is_reproducible_under_a_seed(tiny) -> None:
    pair = build_prompt_pair(tiny.tokenizer, EXAMPLE, template=PAPER_TEACHER_TEMPLATE)
    engine = TransformersRolloutEngine()

    def sample() -> list[int]:
        torch.manual_seed(123)
        return engine.generate(
            tiny.model,
            [pair.student_ids] * 2,
            eos_token_ids=tiny.eos_token_ids,
            pad_token_id=tiny.pad_token_id,
            max_new_tokens=8,
        )[0].token_ids

    assert sample() == sample()


def test_pack_aligns_student_and_teacher_rows_and_skips_first_tokens() -> None:
    student = pack([[1, 2], [3]], [[10, 11, 12, 13], [20, 21]], pad_token_id=0, skip_first=1)
    teacher = pack([[1, 2, 3, 4, 5], [6, 7]], [[10, 11, 12, 13], [20, 21]], pad_token_id=0, skip_first=1)
    assert student.target_ids.tolist() == teacher.target_ids.tolist() == [11, 12, 13, 21]
    assert student.rows.tolist() == teacher.rows.tolist() == [0, 0, 0, 1]
    # Token j of a completion is predicted at position len(prompt) + j - 1.
    assert student.columns.tolist() == [2, 3, 4, 1]
    assert teacher.columns.tolist() == [5, 6, 7, 2]
    assert student.input_ids.tolist() == [[1, 2, 10, 11, 12, 13], [3, 20, 21, 0, 0, 0]]
    assert student.attention_mask.tolist() == [[1] * 6, [1, 1, 1, 0, 0, 0]]
