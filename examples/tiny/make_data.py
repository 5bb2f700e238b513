"""Write the tiny example's data sets: a JSON tool-calling task.

Deterministic (fixed seed) so the committed files can be regenerated exactly:
    python examples/tiny/make_data.py
Eval items use (template, argument) combinations that never occur in the SFT
or preference data, so the score measures generalisation, not memorisation.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 1234
OUT = Path(__file__).resolve().parent / "data"

CITIES = ["Paris", "London", "Tokyo", "Berlin", "Madrid", "Rome", "Cairo", "Lima", "Oslo", "Delhi", "Sydney", "Toronto"]
CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF", "INR"]

TOOLS = [
    {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "name": "get_population",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "name": "convert",
        "parameters": {
            "type": "object",
            "properties": {"amount": {"type": "number"}, "currency": {"type": "string"}},
            "required": ["amount", "currency"],
        },
    },
]

SYSTEM = (
    "Reply with one JSON tool call. Tools: get_weather(city), get_time(city), "
    "get_population(city), convert(amount, currency)."
)

# Several phrasings per tool; {x} is the city (or currency for convert), {n} the amount.
TEMPLATES = {
    "get_weather": [
        "What is the weather in {x}?",
        "Is it raining in {x} today?",
        "weather {x}",
        "How warm is it in {x} right now?",
        "Tell me the forecast for {x}.",
        "Do I need an umbrella in {x}?",
    ],
    "get_time": [
        "What time is it in {x}?",
        "Current time in {x}, please.",
        "time {x}",
        "What is the local time in {x}?",
        "Tell me the clock time in {x}.",
        "Is it late in {x} now?",
    ],
    "get_population": [
        "How many people live in {x}?",
        "What is the population of {x}?",
        "population {x}",
        "How big is {x} by population?",
        "Tell me the number of residents of {x}.",
        "How populous is {x}?",
    ],
    "convert": [
        "Convert {n} dollars to {x}.",
        "How much is {n} USD in {x}?",
        "convert {n} to {x}",
        "What is {n} dollars worth in {x}?",
        "Change {n} dollars into {x}.",
        "I have {n} dollars, how much {x} is that?",
    ],
}


def call_text(name: str, args: dict) -> str:
    return json.dumps({"name": name, "arguments": args})


PREFIXES = ["", "", "Hi. ", "Please: ", "Quick question: "]


def item(tool: str, t_idx: int, x: str, rng: random.Random) -> dict:
    # A random polite prefix adds surface variety beyond the templates.
    tmpl = rng.choice(PREFIXES) + TEMPLATES[tool][t_idx]
    if tool == "convert":
        n = rng.choice([5, 10, 20, 25, 50, 75, 100, 150, 200, 250, 300, 500, 1000])
        return {"user": tmpl.format(n=n, x=x), "call": {"name": tool, "arguments": {"amount": n, "currency": x}}}
    return {"user": tmpl.format(x=x), "call": {"name": tool, "arguments": {"city": x}}}


def messages(user: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def rejected_for(call: dict, rng: random.Random) -> str:
    """A plausible wrong answer: wrong tool, wrong argument, or malformed JSON."""
    kind = rng.choice(["tool", "arg", "malformed"])
    name, args = call["name"], dict(call["arguments"])
    if kind == "tool":
        others = [t for t in TEMPLATES if t != name and (t == "convert") == (name == "convert")] or [
            t for t in TEMPLATES if t != name
        ]
        other = rng.choice(others)
        if (other == "convert") != (name == "convert"):
            args = {"amount": 100, "currency": "EUR"} if other == "convert" else {"city": rng.choice(CITIES)}
        return call_text(other, args)
    if kind == "arg":
        if name == "convert":
            args["currency"] = rng.choice([c for c in CURRENCIES if c != args["currency"]])
        else:
            args["city"] = rng.choice([c for c in CITIES if c != args["city"]])
        return call_text(name, args)
    text = call_text(name, args)
    return rng.choice([text[:-1], text.replace('"name"', "name"), text.replace(": ", " = ", 1)])


def main() -> None:
    rng = random.Random(SEED)
    combos = [
        (tool, t, x)
        for tool in TEMPLATES
        for t in range(len(TEMPLATES[tool]))
        for x in (CURRENCIES if tool == "convert" else CITIES)
    ]
    rng.shuffle(combos)
    # Hold out 12 combinations per tool for eval, never seen in training.
    held, train = [], []
    per_tool: dict[str, int] = {}
    for c in combos:
        if per_tool.get(c[0], 0) < 12:
            held.append(c)
            per_tool[c[0]] = per_tool.get(c[0], 0) + 1
        else:
            train.append(c)

    sft = []
    for tool, t, x in train:
        reps = 4 if tool == "convert" else 2  # repeats differ in prefix (and amount for convert)
        for _ in range(reps):
            it = item(tool, t, x, rng)
            sft.append(
                {
                    "messages": messages(it["user"])
                    + [{"role": "assistant", "content": call_text(it["call"]["name"], it["call"]["arguments"])}]
                }
            )
    rng.shuffle(sft)

    prefs = []
    for tool, t, x in rng.sample(train, 200):
        it = item(tool, t, x, rng)
        prefs.append(
            {
                "prompt": messages(it["user"]),
                "chosen": [{"role": "assistant", "content": call_text(it["call"]["name"], it["call"]["arguments"])}],
                "rejected": [{"role": "assistant", "content": rejected_for(it["call"], rng)}],
            }
        )

    evals = []
    for i, (tool, t, x) in enumerate(sorted(held, key=lambda c: (c[0], c[1], c[2]))):
        it = item(tool, t, x, rng)
        evals.append(
            {
                "id": f"eval-{i + 1:04d}",
                "cluster": f"{tool}/t{t}",
                "messages": messages(it["user"]),
                "tools": TOOLS,
                "expected_call": it["call"],
            }
        )

    OUT.mkdir(parents=True, exist_ok=True)
    for name, rows in (("sft.jsonl", sft), ("preferences.jsonl", prefs), ("eval.jsonl", evals)):
        with open(OUT / name, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
