/**
 * Reading and comparing tool calls. Two parsers on purpose: a strict one (the
 * reply is exactly one call, what a program consuming the model needs) and a
 * lenient one (a call somewhere in the text). Reporting both keeps a metric
 * from rewarding or punishing formatting alone (DESIGN.md: the benchmark that lied).
 */
export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** The trimmed output is exactly one JSON object {"name": string, "arguments": object}, nothing else. */
export function parseToolCallStrict(output: string): ToolCall | undefined {
  const value = parseJson(output.trim());
  if (!isPlainObject(value)) return undefined;
  const keys = Object.keys(value).sort();
  if (keys.length !== 2 || keys[0] !== 'arguments' || keys[1] !== 'name') return undefined;
  if (typeof value.name !== 'string' || !isPlainObject(value.arguments)) return undefined;
  return { name: value.name, arguments: value.arguments };
}

/** The first balanced {...} in the text that parses as JSON and carries a string name. */
export function parseToolCallLenient(output: string): ToolCall | undefined {
  for (let start = output.indexOf('{'); start >= 0; start = output.indexOf('{', start + 1)) {
    const end = balancedEnd(output, start);
    if (end < 0) continue;
    const value = parseJson(output.slice(start, end + 1));
    if (isPlainObject(value) && typeof value.name === 'string') {
      return { name: value.name, arguments: isPlainObject(value.arguments) ? value.arguments : {} };
    }
  }
  return undefined;
}

/** True when the trimmed output is one JSON object, whatever it holds. */
export function isJsonObject(output: string): boolean {
  return isPlainObject(parseJson(output.trim()));
}

export function matchToolCall(expected: ToolCall, actual: ToolCall | undefined): boolean {
  return explainMismatch(expected, actual) === undefined;
}

/**
 * Why actual is not the expected call (undefined when it is): same name, the
 * same argument keys, and values equal after normalisation (strings trimmed
 * and case-folded, numbers numerically, a numeric string equal to its number,
 * objects and arrays recursively).
 */
export function explainMismatch(expected: ToolCall, actual: ToolCall | undefined): string | undefined {
  if (actual === undefined) return 'no tool call found';
  if (normaliseString(expected.name) !== normaliseString(actual.name)) {
    return `called ${JSON.stringify(actual.name)} instead of ${JSON.stringify(expected.name)}`;
  }
  const missing = Object.keys(expected.arguments).filter((k) => !(k in actual.arguments));
  if (missing.length) return `missing argument(s) ${missing.join(', ')}`;
  const unknown = Object.keys(actual.arguments).filter((k) => !(k in expected.arguments));
  if (unknown.length) return `unknown argument(s) ${unknown.join(', ')}`;
  for (const key of Object.keys(expected.arguments)) {
    if (!valuesEqual(expected.arguments[key], actual.arguments[key])) {
      return `argument ${key} is ${JSON.stringify(actual.arguments[key])}, expected ${JSON.stringify(expected.arguments[key])}`;
    }
  }
  return undefined;
}

function valuesEqual(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof b === 'number') return asNumber(a) !== undefined && asNumber(a) === asNumber(b);
  if (typeof a === 'string' && typeof b === 'string') return normaliseString(a) === normaliseString(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => valuesEqual(v, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && valuesEqual(a[k], b[k]));
  }
  return a === b;
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v.trim());
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function normaliseString(s: string): string {
  return s.trim().normalize('NFKC').toLowerCase();
}

/** Index of the '}' closing the '{' at start, skipping braces inside JSON strings; -1 if unbalanced. */
function balancedEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
