"""The benchmark's own skill: record the date a short note mentions, in the house format `Date: YYYY-MM-DD`.

Why this skill: the paper's two tasks are long (tool docs of ~800 tokens) or need reasoning the
small models lack (SMILES multiple choice); this one is short, programmatically scored, and the
format is never stated in the prompt, so it can only be learned from the demonstrations. The base
model answers in prose ("The shipment left on March 5, 2021"), which the scorer counts as wrong.

    .venv/bin/python bench/skills/iso_dates.py          # (re)writes bench/skills/iso_dates.jsonl

Rows are {"prompt", "demonstration", "reference"}, the format the product's upload accepts; the
scorer is `regex` with the pattern below, first ISO date in the output against the reference.
The file is generated from a fixed seed and committed so that it can be read and uploaded as is.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

SKILL_FILE = Path(__file__).with_suffix(".jsonl")
SEED = 20260127
ROWS = 200
SCORER = ("regex", {"pattern": r"(\d{4}-\d{2}-\d{2})", "occurrence": "first"})

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
INSTRUCTIONS = [
    "Record the date mentioned in this note.",
    "Log the date from the following message.",
    "What date goes in the records for this note?",
    "File the date of this entry.",
]
NOTES = [
    "The shipment to {city} left the warehouse on {when}.",
    "Our team meeting with the {city} office is booked for {when}.",
    "Invoice 4{number} was issued to the {city} branch on {when}.",
    "The lease for the {city} studio starts on {when}.",
    "Maria's flight to {city} departs on {when}, early in the morning.",
    "The {city} marathon takes place on {when} this year.",
    "Payment from the {city} client arrived on {when}.",
    "The inspection of the {city} site was carried out on {when}.",
]
CITIES = ["Lyon", "Osaka", "Nairobi", "Lima", "Oslo", "Perth", "Quebec", "Tbilisi", "Porto", "Hanoi"]


def spell(day: date, style: int) -> str:
    """The date as people write it in notes (never in the ISO form the answer uses)."""
    month = MONTHS[day.month - 1]
    suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}.get(day.day, "th")
    return [
        f"{month} {day.day}, {day.year}",
        f"{day.day} {month} {day.year}",
        f"the {day.day}{suffix} of {month}, {day.year}",
        f"{month[:3]} {day.day} {day.year}",
    ][style]


def build_rows(*, seed: int = SEED, count: int = ROWS) -> list[dict[str, str]]:
    """`count` rows, deterministic for a seed; every date distinct."""
    generator = random.Random(seed)
    start = date(1990, 1, 1)
    offsets = generator.sample(range((date(2029, 12, 31) - start).days), count)
    rows = []
    for offset in offsets:
        day = start + timedelta(days=offset)
        note = generator.choice(NOTES).format(
            city=generator.choice(CITIES),
            when=spell(day, generator.randrange(4)),
            number=generator.randrange(100, 999),
        )
        iso = day.isoformat()
        rows.append(
            {
                "prompt": f"{generator.choice(INSTRUCTIONS)}\nNote: {note}",
                "demonstration": f"Date: {iso}",
                "reference": iso,
            }
        )
    return rows


def write_skill_file(path: Path = SKILL_FILE) -> Path:
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in build_rows()), encoding="utf-8"
    )
    return path


if __name__ == "__main__":
    print(write_skill_file())
