"""Built-in general prompts for `general_mix`: open-ended requests the student answers on-policy and
is kept close to the starting model on, so that a new skill does not leak into everyday answers.

Written unlike the general probe's items (no arithmetic, capitals, capitalisation or JSON), so that
mixing them in never trains on what the probe measures. A version never changes once published:
bench/results measured `general_mix` with v1.

    prompts = builtin_general_prompts()   # chat messages, one user turn each
"""

from __future__ import annotations

__all__ = ["GENERAL_PROMPTS_V1", "builtin_general_prompts"]

GENERAL_PROMPTS_V1: list[str] = [
    "Give me three tips for sleeping better.",
    "Explain in two sentences why the sky looks blue.",
    "Write a short, friendly reminder to water the plants.",
    "What are some good habits for learning a new language?",
    "Describe a rainy afternoon in a few sentences.",
    "How do I politely decline an invitation to a party?",
    "Suggest a name for a small bakery and explain it.",
    "What should I pack for a weekend hiking trip?",
    "Summarise the plot of a fairy tale you like.",
    "Why is it important to drink water during exercise?",
    "Write a haiku about the sea.",
    "How can I keep my desk tidy?",
    "Explain what a library card is to a child.",
    "Give two arguments for walking to work.",
    "What is a good way to start a presentation?",
    "Describe how bread rises, simply.",
    "Write a thank-you note to a neighbour who helped me move.",
    "What makes a good team meeting?",
    "Suggest a quick vegetarian lunch.",
    "How do bees help plants?",
    "Tell me a fun fact about octopuses.",
    "Explain what recycling means in one paragraph.",
    "Write a two-line poem about winter mornings.",
    "How should I prepare for a job interview?",
]


def builtin_general_prompts() -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": text}] for text in GENERAL_PROMPTS_V1]
