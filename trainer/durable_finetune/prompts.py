"""How a conversation and its tools become a prompt: the one place for every stage.

Generation (generation.py: the generate stage, and DPO's task probe) renders each
eval item with `prompt_text`; SFT and DPO hand their rows to trl in the shape
`training_row` gives, so training and eval see the same prompt for the same
messages and tools.

- Tools: an eval item's `tools` (`{name, description?, parameters?}`) go to
  the chat template as `apply_chat_template(..., tools=[{"type": "function",
  "function": {...}}])`, the JSON-schema form the templates read (Llama 3.1
  puts them in the first user turn, Qwen in a `<tools>` block of the system
  turn, Mistral in `[AVAILABLE_TOOLS]`). A family whose template has no tool
  support (Gemma) gets them written into the system turn instead, as Gemma's
  function-calling docs do; its template then opens the first user turn
  with that text.
- Qwen3 renders in its non-thinking mode (families.py, `thinking_off`).
- Mistral's template puts the system message into the last user turn only, so
  a training conversation ending with the answer would drop it: the system
  message is folded into the last user turn first, which renders the prompt
  exactly as the template does at generation time.
"""

from __future__ import annotations

import json
from typing import Any

from .families import Family

GEMMA_TOOLS_INTRO = (
    "You have access to the following functions. To call one, reply with a JSON object "
    '{"name": <function name>, "arguments": <arguments object>}.\n'
)


def template_tools(tools: list[dict] | None) -> list[dict] | None:
    """Eval-item tools in the form chat templates read; None for no tools (Llama renders tool
    boilerplate even for an empty list)."""
    if not tools:
        return None
    out = []
    for t in tools:
        if t.get("type") == "function" and isinstance(t.get("function"), dict):
            out.append(t)  # already in the template form
            continue
        fn = {"name": t["name"]}
        if t.get("description"):
            fn["description"] = t["description"]
        fn["parameters"] = t.get("parameters") or {"type": "object", "properties": {}}
        out.append({"type": "function", "function": fn})
    return out


def prompt_messages(
    family: Family, messages: list[dict], tools: list[dict] | None
) -> tuple[list[dict], list[dict] | None]:
    """(messages, tools for the template) of one conversation, as this family must render them."""
    msgs = [dict(m) for m in messages]
    tools = template_tools(tools)
    if tools and not family.tools_in_template:
        listing = GEMMA_TOOLS_INTRO + "\n".join(json.dumps(t["function"]) for t in tools)
        if msgs and msgs[0]["role"] == "system":
            msgs[0]["content"] = listing + "\n\n" + msgs[0]["content"]
        else:
            msgs.insert(0, {"role": "system", "content": listing})
        tools = None
    users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    if family.system_in_last_user and msgs and msgs[0]["role"] == "system" and users:
        i = users[-1]
        msgs[i] = {**msgs[i], "content": msgs[0]["content"] + "\n\n" + msgs[i]["content"]}
        msgs.pop(0)
    return msgs, tools


def prompt_text(tokenizer, family: Family, messages: list[dict], tools: list[dict] | None = None) -> str:
    """The generation prompt of one conversation (template text, special tokens included)."""
    msgs, tools = prompt_messages(family, messages, tools)
    return tokenizer.apply_chat_template(
        msgs, tools=tools, add_generation_prompt=True, tokenize=False, **family.template_kwargs
    )


def training_row(family: Family, prompt: list[dict], tools: list[dict] | None, **answers: list[dict]) -> dict:
    """A trl conversational row: prompt (and completion or chosen/rejected), `tools` as JSON text
    (trl reads a JSON string; nested schemas of differing shape do not fit one Arrow column) and
    the family's template switches (the same in every row)."""
    msgs, tools = prompt_messages(family, prompt, tools)
    row: dict[str, Any] = {"prompt": msgs, **answers, "tools": json.dumps(tools) if tools else None}
    if family.template_kwargs:
        row["chat_template_kwargs"] = family.template_kwargs
    return row
