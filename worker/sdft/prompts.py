"""Student and teacher prompts: chat messages rendered with the tokenizer's own chat template.

The student sees the task prompt alone. The teacher sees the same conversation with its last user
turn rewritten by the skill's template, which puts the demonstration (and optional privileged
context) in context. Substitution is one regex pass, so braces inside prompts or demonstrations
(JSON tool calls) are left alone and a "{demonstration}" typed inside a prompt is not expanded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.sdft.config import DEFAULT_TEACHER_TEMPLATE, TEMPLATE_FIELD
from worker.sdft.data import Example


def fill_template(template: str, *, prompt: str, demonstration: str, context: str | None) -> str:
    """Fill {prompt}, {demonstration} and {context}; without a {context} slot, context follows the prompt."""
    if context and "{context}" not in template:
        prompt = f"{prompt}\n\n{context}"
    values = {"prompt": prompt, "demonstration": demonstration, "context": context or ""}
    return TEMPLATE_FIELD.sub(lambda match: values[match.group(1)], template)


def teacher_messages(example: Example, *, template: str = DEFAULT_TEACHER_TEMPLATE) -> list[dict[str, str]]:
    """The student's conversation with its last user turn carrying the demonstration."""
    *history, last = example.prompt
    content = fill_template(
        template, prompt=last["content"], demonstration=example.demonstration, context=example.context
    )
    return [*history, {"role": last["role"], "content": content}]


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """Chat-template text ending where the assistant's answer starts."""
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    # A tokenizer without a chat template (a base model): plain role-prefixed turns.
    turns = [f"{message['role']}: {message['content']}" for message in messages]
    return "\n".join(turns) + "\nassistant: "


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of rendered text; the chat template already holds any special tokens."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass(frozen=True)
class PromptPair:
    """One training prompt in token ids, for the student and for its teacher."""

    student_text: str
    teacher_text: str
    student_ids: list[int]
    teacher_ids: list[int]
    demonstration: str
    general: bool = False  # a general prompt: no demonstration, the teacher is the starting model


def build_prompt_pair(tokenizer: Any, example: Example, *, template: str) -> PromptPair:
    student_text = render_prompt(tokenizer, example.prompt)
    teacher_text = render_prompt(tokenizer, teacher_messages(example, template=template))
    return PromptPair(
        student_text=student_text,
        teacher_text=teacher_text,
        student_ids=encode(tokenizer, student_text),
        teacher_ids=encode(tokenizer, teacher_text),
        demonstration=example.demonstration,
    )


def build_general_pair(tokenizer: Any, messages: list[dict[str, str]]) -> PromptPair:
    """A general prompt anchors prior behaviour: student and teacher see the same text."""
    text = render_prompt(tokenizer, messages)
    ids = encode(tokenizer, text)
    return PromptPair(
        student_text=text, teacher_text=text, student_ids=ids, teacher_ids=ids, demonstration="", general=True
    )


def demonstration_ids(tokenizer: Any, demonstration: str, *, eos_token_id: int) -> list[int]:
    """The SFT target: the demonstration's tokens then end-of-turn, as the model should produce them."""
    return [*encode(tokenizer, demonstration), eos_token_id]
