"""Build general_v1.jsonl, the general-capability probe (version 1), written for this project.

    python -m worker.sdft.probe.build_general_v1          # rewrites general_v1.jsonl beside this file

300 short prompts, 75 in each of four categories: arithmetic (generated with a fixed seed),
facts (world knowledge a 135M instruct model sometimes has), instruction following and
formatting. Every row is scored by one of the product's own scorers (worker.sdft.scoring), and
every reference is chosen so that echoing the prompt back never scores.

A published version never changes: results stored against "v1" must stay comparable. To change
the probe, copy this script to build_general_v2.py and ship a new file.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

SEED = 20261128
OUTPUT = Path(__file__).with_name("general_v1.jsonl")

Row = dict[str, Any]


def _row(category: str, index: int, prompt: str, reference: str, scorer: str, **config: Any) -> Row:
    return {
        "id": f"{category}-{index:03d}",
        "category": category,
        "prompt": [{"role": "user", "content": prompt}],
        "reference": reference,
        "scorer": scorer,
        "scorer_config": config,
    }


def _one_of(*answers: str) -> str:
    """A pattern accepting any of `answers` as a whole word, case ignored via the scorer config."""
    return r"(?<!\w)(?:" + "|".join(re.escape(answer) for answer in answers) + r")(?!\w)"


def _only(*answers: str) -> str:
    """A pattern for an output that is one of `answers` and nothing else but punctuation/space."""
    return r"\A\W*(?:" + "|".join(re.escape(answer) for answer in answers) + r")\W*\Z"


# --------------------------------------------------------------------------- arithmetic

_LAST_NUMBER = {"pattern": r"(-?\d+(?:\.\d+)?)", "numeric": True, "occurrence": "last"}
_NUMBER_ONLY = "Answer with the number only."

# Each maker draws one question: (question, answer, the numbers the question shows).
Question = tuple[str, int, tuple[int, ...]]


def _addition(rng: random.Random, index: int) -> Question:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return f"What is {a} + {b}?", a + b, (a, b)


def _subtraction(rng: random.Random, index: int) -> Question:
    a = rng.randint(20, 99)
    b = rng.randint(2, a - 2)
    return f"What is {a} - {b}?", a - b, (a, b)


def _multiplication(rng: random.Random, index: int) -> Question:
    a, b = rng.randint(2, 12), rng.randint(2, 12)
    return f"What is {a} times {b}?", a * b, (a, b)


def _division(rng: random.Random, index: int) -> Question:
    divisor, quotient = rng.randint(2, 9), rng.randint(2, 12)
    return f"What is {divisor * quotient} divided by {divisor}?", quotient, (divisor * quotient, divisor)


def _word_problem(rng: random.Random, index: int) -> Question:
    a, b = rng.randint(12, 60), rng.randint(2, 11)
    if index % 2 == 0:
        return f"Sam has {a} apples and buys {b} more. How many apples does Sam have now?", a + b, (a, b)
    return (
        f"A box holds {a} pencils. {b} pencils are taken out. How many pencils are left in the box?",
        a - b,
        (a, b),
    )


def arithmetic_rows() -> list[Row]:
    rng = random.Random(SEED)
    questions: list[tuple[str, int]] = []
    seen: set[str] = set()
    for make, count in [
        (_addition, 20),
        (_subtraction, 20),
        (_multiplication, 15),
        (_division, 10),
        (_word_problem, 10),
    ]:
        made = 0
        while made < count:
            question, answer, shown = make(rng, made)
            # Restating the question must not score: the answer may not be one of its numbers.
            if question in seen or answer in shown:
                continue
            seen.add(question)
            questions.append((question, answer))
            made += 1
    return [
        _row("arithmetic", index, f"{question} {_NUMBER_ONLY}", str(answer), "regex", **_LAST_NUMBER)
        for index, (question, answer) in enumerate(questions, start=1)
    ]


# --------------------------------------------------------------------------- facts

_CAPITALS = [
    ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Germany", "Berlin"), ("Spain", "Madrid"),
    ("Russia", "Moscow"), ("China", "Beijing"), ("the United Kingdom", "London"), ("Egypt", "Cairo"),
    ("Canada", "Ottawa"), ("Australia", "Canberra"), ("Kenya", "Nairobi"), ("Argentina", "Buenos Aires"),
    ("Peru", "Lima"), ("Greece", "Athens"), ("Portugal", "Lisbon"), ("Ireland", "Dublin"), ("Norway", "Oslo"),
    ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Poland", "Warsaw"), ("Austria", "Vienna"),
    ("Hungary", "Budapest"), ("the Czech Republic", "Prague"), ("the Netherlands", "Amsterdam"),
    ("Belgium", "Brussels"), ("Thailand", "Bangkok"), ("South Korea", "Seoul"), ("Turkey", "Ankara"),
    ("Cuba", "Havana"), ("Denmark", "Copenhagen"), ("Indonesia", "Jakarta"), ("the Philippines", "Manila"),
    ("Chile", "Santiago"), ("New Zealand", "Wellington"),
]  # fmt: skip

# (question, reference, accepted answers or None for the reference alone, case_sensitive)
_SCIENCE: list[tuple[str, str, tuple[str, ...] | None, bool]] = [
    ("Which planet is known as the Red Planet?", "Mars", None, False),
    ("What is the chemical symbol for gold?", "Au", None, True),
    ("What is the chemical symbol for sodium?", "Na", None, True),
    ("What is the chemical symbol for iron?", "Fe", None, True),
    ("What is the chemical formula of water?", "H2O", ("H2O", "H₂O"), True),
    (
        "Which gas do plants take in from the air for photosynthesis?",
        "carbon dioxide",
        ("carbon dioxide", "CO2", "CO₂"),
        False,
    ),
    ("Which gas do humans need to breathe in to stay alive?", "oxygen", None, False),
    ("What is the largest planet in our solar system?", "Jupiter", None, False),
    ("Which planet is closest to the Sun?", "Mercury", None, False),
    ("How many planets are in our solar system?", "8", ("8", "eight"), False),
    ("At what temperature in degrees Celsius does water boil at sea level?", "100", None, False),
    ("How many legs does an insect have?", "6", ("6", "six"), False),
    ("How many legs does a spider have?", "8", ("8", "eight"), False),
    ("What is the hardest natural substance on Earth?", "diamond", ("diamond", "diamonds"), False),
    ("Which organ pumps blood through the human body?", "heart", None, False),
    ("What is the largest organ of the human body?", "skin", None, False),
    ("What is the center of an atom called?", "nucleus", None, False),
    ("Which force pulls objects toward the ground?", "gravity", ("gravity", "gravitational force"), False),
    ("What sweet food do bees make?", "honey", None, False),
    ("What is the name of Earth's natural satellite?", "Moon", None, False),
    ("How many bones are in the adult human body?", "206", None, False),
    ("What is the process by which plants use sunlight to make food called?", "photosynthesis", None, False),
    ("What is water called when it freezes solid?", "ice", None, False),
    ("How many continents are there on Earth?", "7", ("7", "seven"), False),
    ("Which star is at the center of our solar system?", "Sun", None, False),
]

_GENERAL: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("How many days are there in a week?", "7", ("7", "seven")),
    ("How many months are there in a year?", "12", ("12", "twelve")),
    ("How many hours are there in a day?", "24", ("24", "twenty-four")),
    ("How many minutes are there in an hour?", "60", ("60", "sixty")),
    ("How many sides does a hexagon have?", "6", ("6", "six")),
    ("What color do you get by mixing blue and yellow paint?", "green", None),
    ("What is the largest ocean on Earth?", "Pacific", None),
    ("Who wrote the play Romeo and Juliet?", "Shakespeare", None),
    ("What is the tallest mountain in the world?", "Everest", None),
    ("What is the largest mammal on Earth?", "blue whale", None),
    ("What language is mainly spoken in Brazil?", "Portuguese", None),
    ("What is the currency of Japan?", "yen", None),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci", ("Leonardo", "da Vinci")),
    ("What is the fastest land animal?", "cheetah", ("cheetah", "cheetahs")),
    ("What color is a ripe banana?", "yellow", None),
]


def fact_rows() -> list[Row]:
    rows: list[tuple[str, str, tuple[str, ...] | None, bool]] = []
    for country, capital in _CAPITALS:
        rows.append((f"What is the capital of {country}?", capital, None, False))
    rows.extend(_SCIENCE)
    rows.extend((question, reference, accepted, False) for question, reference, accepted in _GENERAL)
    built = []
    for index, (question, reference, accepted, case_sensitive) in enumerate(rows, start=1):
        if accepted is None:
            built.append(
                _row(
                    "facts",
                    index,
                    question,
                    reference,
                    "contains",
                    case_sensitive=case_sensitive,
                    word_boundary=True,
                )
            )
        else:
            built.append(
                _row(
                    "facts",
                    index,
                    question,
                    reference,
                    "regex",
                    pattern=_one_of(*accepted),
                    ignore_case=not case_sensitive,
                )
            )
    return built


# --------------------------------------------------------------------------- instruction following

_UPPERCASE_WORDS = ["apple", "river", "garden", "yellow", "window", "planet", "music", "silver", "orange", "forest", "bridge", "candle"]  # fmt: skip
_LOWERCASE_WORDS = ["HELLO", "TABLE", "GREEN", "WATER", "CLOUD", "HOUSE", "PAPER", "STONE"]
_ONE_WORD = [
    ("What color is grass?", ("green",)),
    ("Which animal says 'meow'?", ("cat", "kitten")),
    ("What is the opposite of 'up'?", ("down",)),
    ("What do you call a baby dog?", ("puppy",)),
    ("What is the opposite of 'day'?", ("night",)),
    ("What color is fresh snow?", ("white",)),
    ("Which season comes after winter?", ("spring",)),
    ("Which long yellow fruit do monkeys like to eat?", ("banana",)),
    ("What is the opposite of 'big'?", ("small", "little")),
    ("What do teachers write with on a blackboard?", ("chalk",)),
    ("Which animal is called the king of the jungle?", ("lion",)),
    ("What color is the sky on a clear day?", ("blue",)),
    ("What is the opposite of 'left'?", ("right",)),
    ("What shape has exactly three sides?", ("triangle",)),
    ("What is the opposite of 'happy'?", ("sad", "unhappy")),
]
_REVERSED = ["cat", "dog", "star", "loop", "time", "stop", "draw", "live", "part", "reed"]
_RANGES = [(1, 5), (3, 7), (10, 14), (20, 25), (6, 9), (15, 19), (30, 33), (42, 46), (7, 12), (50, 54)]
_SENTENCES = [
    "The cat sat on the mat.", "I like green apples.", "Rain falls in the spring.", "We walked to the old bridge.",
    "The sun rises in the east.", "Birds sing in the morning.", "My brother plays the piano.",
    "The library opens at nine.", "Cold water tastes fresh.", "She painted the door blue.",
]  # fmt: skip
_FIRST_LETTER = [
    "zebra",
    "kite",
    "umbrella",
    "yacht",
    "violin",
    "quartz",
    "jungle",
    "ostrich",
    "igloo",
    "walrus",
]


def instruction_rows() -> list[Row]:
    items: list[tuple[str, str, str, dict[str, Any]]] = []
    for word in _UPPERCASE_WORDS:
        prompt = f"Write the word '{word}' in capital letters and nothing else."
        items.append((prompt, word.upper(), "contains", {"case_sensitive": True, "word_boundary": True}))
    for word in _LOWERCASE_WORDS:
        prompt = f"Write the word '{word}' in small (lowercase) letters and nothing else."
        items.append((prompt, word.lower(), "contains", {"case_sensitive": True, "word_boundary": True}))
    for question, accepted in _ONE_WORD:
        prompt = f"Answer with one word only. {question}"
        items.append((prompt, accepted[0], "regex", {"pattern": _only(*accepted), "ignore_case": True}))
    for word in _REVERSED:
        prompt = f"Spell the word '{word}' backwards. Reply with the reversed word only."
        items.append((prompt, word[::-1], "regex", {"pattern": _only(word[::-1]), "ignore_case": True}))
    for start, stop in _RANGES:
        numbers = [str(number) for number in range(start, stop + 1)]
        prompt = f"List the whole numbers from {start} to {stop}, separated by commas."
        pattern = r"(?<!\d)" + r"\s*,\s*".join(numbers) + r"(?!\d)"
        items.append((prompt, ", ".join(numbers), "regex", {"pattern": pattern}))
    for sentence in _SENTENCES:
        prompt = f"Repeat this sentence exactly and write nothing else: {sentence}"
        pattern = r"\A\W*" + re.escape(sentence.rstrip(".")) + r"\W*\Z"
        items.append((prompt, sentence, "regex", {"pattern": pattern}))
    for word in _FIRST_LETTER:
        prompt = f"What is the first letter of the word '{word}'? Reply with that letter only."
        items.append((prompt, word[0].upper(), "regex", {"pattern": _only(word[0]), "ignore_case": True}))
    return [
        _row("instructions", index, prompt, reference, scorer, **config)
        for index, (prompt, reference, scorer, config) in enumerate(items, start=1)
    ]


# --------------------------------------------------------------------------- formatting

_JSON_OBJECTS: list[dict[str, Any]] = [
    {"name": "Alice", "age": 30}, {"city": "Lyon", "population": 500000}, {"fruit": "mango", "ripe": True},
    {"title": "Dune", "year": 1965}, {"animal": "owl", "legs": 2}, {"color": "red", "hex": "#FF0000"},
    {"product": "lamp", "price": 25, "in_stock": False}, {"first": "Ada", "last": "Lovelace"},
    {"planet": "Venus", "moons": 0}, {"language": "Python", "typed": False}, {"id": 7, "done": True},
    {"country": "Chile", "code": "CL"}, {"sport": "tennis", "players": 2}, {"day": "Monday", "index": 1},
    {"drink": "tea", "hot": True, "sugar": 0}, {"user": "bob", "admin": False}, {"width": 4, "height": 3},
    {"book": "Emma", "pages": 474}, {"river": "Danube", "countries": 10}, {"metal": "copper", "symbol": "Cu"},
]  # fmt: skip
_JSON_ARRAYS: list[tuple[str, list[Any]]] = [
    ("the numbers from 1 to 5, in order", [1, 2, 3, 4, 5]),
    ('the strings "red", "green" and "blue", in that order', ["red", "green", "blue"]),
    ("the even numbers from 2 to 10, in order", [2, 4, 6, 8, 10]),
    ('the strings "north", "east", "south" and "west", in that order', ["north", "east", "south", "west"]),
    ("the numbers 3, 1 and 2, in that order", [3, 1, 2]),
    ("the first three letters of the English alphabet as lowercase strings", ["a", "b", "c"]),
    ("the boolean values true and false, in that order", [True, False]),
    ("the numbers 10, 20 and 30, in that order", [10, 20, 30]),
    ('the strings "cat" and "dog", in that order', ["cat", "dog"]),
    ("the odd numbers from 1 to 9, in order", [1, 3, 5, 7, 9]),
]
_JSON_CAPITALS = [
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Egypt", "Cairo"),
    ("Canada", "Ottawa"),
]
_BULLET_TOPICS = [
    "dogs", "the ocean", "coffee", "winter", "trees", "bicycles", "the moon", "music", "rain", "books",
    "cats", "mountains", "bread", "summer", "trains",
]  # fmt: skip
_CHOICES: list[tuple[str, list[str], str]] = [
    ("Which of these is a fruit?", ["car", "apple", "chair", "shoe"], "B"),
    ("Which of these animals can fly?", ["eagle", "horse", "cow", "pig"], "A"),
    ("Which of these is a color?", ["table", "river", "purple", "spoon"], "C"),
    ("Which number is the largest?", ["3", "9", "5", "12"], "D"),
    ("Which of these is a planet?", ["Paris", "Saturn", "Nile", "Everest"], "B"),
    ("Which of these is used to cut paper?", ["scissors", "pillow", "bucket", "plate"], "A"),
    ("Which of these is a vegetable?", ["hammer", "guitar", "carrot", "sock"], "C"),
    ("Which of these lives in water?", ["camel", "goat", "owl", "fish"], "D"),
    ("Which of these is a season?", ["Tuesday", "autumn", "March", "noon"], "B"),
    ("Which of these is a musical instrument?", ["violin", "lemon", "brick", "candle"], "A"),
    ("Which of these is the coldest?", ["fire", "sand", "ice", "soup"], "C"),
    ("Which of these is a day of the week?", ["April", "spring", "morning", "Friday"], "D"),
    ("Which of these is a shape?", ["banana", "circle", "river", "tiger"], "B"),
    ("Which of these do you wear on your feet?", ["boots", "hat", "gloves", "scarf"], "A"),
    ("Which of these is a bird?", ["shark", "frog", "parrot", "mouse"], "C"),
]
_BRACKET_NUMBERS = [
    ("How many legs does a dog have?", 4), ("How many days are in a week?", 7),
    ("How many wheels does a bicycle have?", 2), ("How many sides does a square have?", 4),
    ("How many months are in a year?", 12), ("How many fingers are on one hand?", 5),
    ("How many hours are in a day?", 24), ("How many legs does a bird have?", 2),
    ("How many wheels does a car usually have?", 4), ("How many sides does a triangle have?", 3),
]  # fmt: skip


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, int):
        return f"the number {value}"
    return f'the string "{value}"'


def _bullet_pattern(count: int) -> str:
    """Exactly `count` lines starting with "- ", "* " or "• "; other lines (an intro) are allowed."""
    bullet = r"[ \t]*[-*•][ \t]+\S[^\n]*"
    other = r"(?![ \t]*[-*•][ \t])[^\n]*"
    return rf"\A(?:{other}\n)*{bullet}(?:\n(?:{other}\n)*{bullet}){{{count - 1}}}(?:\n{other})*\Z"


def formatting_rows() -> list[Row]:
    items: list[tuple[str, str, str, dict[str, Any]]] = []
    for record in _JSON_OBJECTS:
        fields = ", ".join(f'"{key}" is {_describe(value)}' for key, value in record.items())
        prompt = f"Reply with only a JSON object that has exactly these fields: {fields}."
        items.append((prompt, json.dumps(record), "json_match", {}))
    for description, values in _JSON_ARRAYS:
        prompt = f"Reply with only a JSON array of {description}."
        items.append((prompt, json.dumps(values), "json_match", {}))
    for country, capital in _JSON_CAPITALS:
        prompt = (
            f'Reply with only a JSON object with two string fields, "country" and "capital", for {country}.'
        )
        items.append((prompt, json.dumps({"country": country, "capital": capital}), "json_match", {}))
    for index, topic in enumerate(_BULLET_TOPICS):
        count = 2 + index % 4
        prompt = (
            f"Write exactly {count} bullet points about {topic}, each on its own line starting with '- '."
        )
        reference = "\n".join(f"- A point about {topic}, number {number}." for number in range(1, count + 1))
        items.append((prompt, reference, "regex", {"pattern": _bullet_pattern(count)}))
    for question, options, letter in _CHOICES:
        listed = "\n".join(
            f"{option_letter}: {option}" for option_letter, option in zip("ABCD", options, strict=True)
        )
        prompt = (
            f"{question}\n{listed}\nPut only the letter of the right option inside <answer></answer> tags."
        )
        items.append((prompt, letter, "choice", {}))
    for question, number in _BRACKET_NUMBERS:
        prompt = f"{question} Reply with just the number inside square brackets, like this: [number]."
        items.append((prompt, f"[{number}]", "regex", {"pattern": rf"\[\s*{number}\s*\]"}))
    return [
        _row("formatting", index, prompt, reference, scorer, **config)
        for index, (prompt, reference, scorer, config) in enumerate(items, start=1)
    ]


def build_rows() -> list[Row]:
    return arithmetic_rows() + fact_rows() + instruction_rows() + formatting_rows()


def main() -> None:
    rows = build_rows()
    with OUTPUT.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["category"]] = counts.get(row["category"], 0) + 1
    print(f"wrote {len(rows)} rows to {OUTPUT}: {counts}")


if __name__ == "__main__":
    main()
