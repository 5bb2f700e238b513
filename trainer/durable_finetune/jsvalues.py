"""JavaScript's rules for the values a tool call holds, as src/eval/toolCall.ts gets them for free.

The TypeScript scorer is what eval reports; toolcall.py must score a reply the
same way, so where Python's built-ins differ from JavaScript's (what trim
removes, what Number() reads, JSON numbers being doubles) these functions
follow JavaScript. The shared cases are test/fixtures/toolcall-cases.json.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# String.prototype.trim removes WhiteSpace and LineTerminator (ECMA-262): not
# U+001C..U+001F or U+0085, which str.strip() removes, but U+FEFF, which it keeps.
_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)

# What Number() reads as a finite number: ASCII digits only (re.ASCII), a sign
# only on decimals, 0x/0o/0b without one. "Infinity" is left out: it is not finite.
_JS_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?|0x[0-9a-f]+|0o[0-7]+|0b[01]+", re.I | re.A)


def trim(s: str) -> str:
    return s.strip(_JS_WHITESPACE)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # JSON.parse refuses NaN and Infinity


def parse_json(text: str) -> Any:
    """JSON.parse: every number a double (a huge integer becomes inf); ValueError when it is not JSON."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=float)
    except RecursionError:  # nesting deeper than Python's stack; JSON.parse reads it, no tool call is that deep
        raise ValueError("nested too deeply") from None


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def to_double(v: int | float) -> float:
    """The double JavaScript holds for a number."""
    try:
        return float(v)
    except OverflowError:  # an int beyond the doubles: JavaScript holds it as Infinity
        return math.inf if v > 0 else -math.inf


def to_number(v: Any) -> float | None:
    """The finite number a value reads as: a number, or a string Number() reads; None otherwise."""
    if is_number(v):
        n = to_double(v)
    elif isinstance(v, str) and _JS_NUMBER.fullmatch(t := trim(v).lower()):
        n = to_double(int(t, 0)) if t.startswith(("0x", "0o", "0b")) else float(t)
    else:
        return None
    return n if math.isfinite(n) else None
