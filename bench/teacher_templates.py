"""The teacher templates the learning benchmark tries, by short name (torch-free: the report names them)."""

from __future__ import annotations

from worker.sdft.config import FORMAT_TEACHER_TEMPLATE, PAPER_TEACHER_TEMPLATE

# Shorter teacher wording: "including the thinking process" asks a small teacher for prose that
# then leaks into answers whose format is a one-liner.
PLAIN_TEACHER_TEMPLATE = (
    "{prompt}\n\n"
    "This is an example for a response to the question:\n"
    "{demonstration}\n\n"
    "Now answer with a response of your own."
)

# FORMAT_TEACHER_TEMPLATE, the product's default since the benchmark chose it, lives with the engine's
# config. On dates' train rows SmolLM2-135M as teacher answered 0/16 in the demonstrated format with
# the paper's template (it echoes "This is an example for a response..."), 7/16 with the plain one,
# 15/16 with the format one. On tool use none of them made the 135M teacher produce a call (0/8).

TEACHER_TEMPLATES = {
    "paper": PAPER_TEACHER_TEMPLATE,
    "plain": PLAIN_TEACHER_TEMPLATE,
    "format": FORMAT_TEACHER_TEMPLATE,
}


def template_name(template: str) -> str:
    """The short name of a known template, else "custom"."""
    return next((name for name, text in TEACHER_TEMPLATES.items() if text == template), "custom")
