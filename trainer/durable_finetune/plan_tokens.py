"""Token counts of a run's data as training sees it, for `finetune plan` (src/plan/tokens.ts).

    python -m durable_finetune.plan_tokens <model folder> <sft.jsonl> <preferences.jsonl> <eval.jsonl>

prints one JSON object: `family`, `sft` (tokens of each row), `preferences` ([chosen, rejected]
tokens of each row, prompt included in both) and `eval` (prompt tokens of each item). Each row
is rendered with the model's chat template the way the stages hand it to trl (prompts.py
training_row; eval through prompt_text, as generation does), so a count here is the length
trl truncates at max_length. Nothing is trained and no weights are loaded.
"""

from __future__ import annotations

import json
import sys

from .families import model_family
from .prompts import prompt_text, training_row
from .runtime import read_jsonl


def conversation_tokens(tokenizer, row: dict, answer_key: str) -> int:
    """Tokens of the rendered prompt followed by one answer, as the trainer tokenizes them."""
    tools = json.loads(row["tools"]) if row.get("tools") else None
    text = tokenizer.apply_chat_template(
        row["prompt"] + row[answer_key], tools=tools, tokenize=False, **row.get("chat_template_kwargs", {})
    )
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def main(argv: list[str]) -> None:
    if len(argv) != 4:
        sys.exit(
            "usage: python -m durable_finetune.plan_tokens <model folder> <sft.jsonl> <preferences.jsonl> <eval.jsonl>"
        )
    model, sft, preferences, eval_items = argv
    from transformers import AutoTokenizer

    family = model_family(model)
    tokenizer = AutoTokenizer.from_pretrained(model)
    sft_rows = [
        training_row(family, r["messages"][:-1], r.get("tools"), completion=r["messages"][-1:]) for r in read_jsonl(sft)
    ]
    pref_rows = [
        training_row(family, r["prompt"], r.get("tools"), chosen=r["chosen"], rejected=r["rejected"])
        for r in read_jsonl(preferences)
    ]
    out = {
        "family": family.name,
        "sft": [conversation_tokens(tokenizer, r, "completion") for r in sft_rows],
        "preferences": [
            [conversation_tokens(tokenizer, r, "chosen"), conversation_tokens(tokenizer, r, "rejected")]
            for r in pref_rows
        ],
        "eval": [
            len(
                tokenizer(prompt_text(tokenizer, family, r["messages"], r.get("tools")), add_special_tokens=False)[
                    "input_ids"
                ]
            )
            for r in read_jsonl(eval_items)
        ],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
