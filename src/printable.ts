/**
 * Text that came from a user (a config value, a key, a run id) made safe to
 * print: a control character could end a log line early, rewrite the terminal
 * or hide text (bidi overrides), so each is written as a \u{...} escape.
 * Pure: the workflow uses it too.
 */
const UNPRINTABLE = /[\p{Cc}\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/gu;

export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u{${c.codePointAt(0)!.toString(16).padStart(4, '0')}}`);
}

/** A string quoted for an error: JSON-quoted, every control character escaped. */
export function quoted(text: string): string {
  return printable(JSON.stringify(text));
}
