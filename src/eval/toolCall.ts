/**
 * Reading and comparing tool calls. Two parsers on purpose: a strict one (the
 * reply is exactly one call, what a program consuming the model needs) and a
 * lenient one (a call somewhere in the text). Reporting both keeps a metric
 * from rewarding or punishing formatting alone (docs/design.md: the benchmark that lied).
 * The DPO guard scores the strict match in Python (trainer/durable_finetune/toolcall.py);
 * both pass the cases in test/fixtures/toolcall-cases.json.
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

/** A tool as eval items give it: a name and a JSON schema of its arguments. */
export interface ToolSpec {
  [key: string]: unknown;
  name: string;
  parameters?: JsonSchema;
}

/** The part of JSON schema that argument checking reads. */
export interface JsonSchema {
  [key: string]: unknown;
  type?: string | string[];
  properties?: Record<string, unknown>;
  required?: string[];
  additionalProperties?: unknown;
  items?: unknown;
  enum?: unknown[];
}

export function matchToolCall(expected: ToolCall, actual: ToolCall | undefined, tool?: ToolSpec): boolean {
  return explainMismatch(expected, actual, tool) === undefined;
}

/**
 * Why actual is not the expected call (undefined when it is): same name, the
 * same argument keys, the types the tool's schema declares (when the tool is
 * given: a numeric string is not a number there), and values equal after
 * normalisation (strings trimmed and case-folded, numbers numerically, a
 * numeric string equal to its number, objects and arrays recursively).
 */
export function explainMismatch(expected: ToolCall, actual: ToolCall | undefined, tool?: ToolSpec): string | undefined {
  if (actual === undefined) return 'no tool call found';
  if (normaliseString(expected.name) !== normaliseString(actual.name)) {
    return `called ${JSON.stringify(actual.name)} instead of ${JSON.stringify(expected.name)}`;
  }
  if (tool) {
    const problem = schemaProblem(actual, [tool]);
    if (problem) return problem;
  }
  // Own keys only: `in` would find Object.prototype's, so an argument named constructor or toString passed unnoticed.
  const missing = Object.keys(expected.arguments).filter((k) => !Object.hasOwn(actual.arguments, k));
  if (missing.length) return `missing argument(s) ${missing.join(', ')}`;
  const unknown = Object.keys(actual.arguments).filter((k) => !Object.hasOwn(expected.arguments, k));
  if (unknown.length) return `unknown argument(s) ${unknown.join(', ')}`;
  for (const key of Object.keys(expected.arguments)) {
    if (!valuesEqual(expected.arguments[key], actual.arguments[key])) {
      return `argument ${key} is ${JSON.stringify(actual.arguments[key])}, expected ${JSON.stringify(expected.arguments[key])}`;
    }
  }
  return undefined;
}

/**
 * Why the call does not fit any of the tools (undefined when it fits): an
 * unknown tool name, a missing required argument, an argument the schema does
 * not declare (unless additionalProperties allows it), or a value of the wrong
 * JSON type or outside its enum.
 */
export function schemaProblem(call: ToolCall, tools: ToolSpec[]): string | undefined {
  const tool = tools.find((t) => t.name === call.name) ?? tools.find((t) => normaliseString(t.name) === normaliseString(call.name));
  if (!tool) return `${JSON.stringify(call.name)} is not one of the tools (${tools.map((t) => t.name).join(', ')})`;
  return valueProblem(call.arguments, { type: 'object', ...(tool.parameters ?? {}) }, 'arguments');
}

function valueProblem(value: unknown, schema: JsonSchema, path: string): string | undefined {
  if (schema.enum && !schema.enum.some((e) => sameJson(e, value))) {
    return `${path} is ${JSON.stringify(value)}, not one of ${JSON.stringify(schema.enum)}`;
  }
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.length > 0 && !types.some((t) => hasJsonType(value, t))) {
    return `${path} is ${jsonTypeOf(value)} ${JSON.stringify(value)}, the tool expects ${types.join(' or ')}`;
  }
  if (isPlainObject(value) && (schema.properties || schema.required)) {
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const missing = (schema.required ?? []).filter((k) => !Object.hasOwn(value, k));
    if (missing.length) return `missing required argument(s) ${missing.map((k) => `${path}.${k}`).join(', ')}`;
    if (schema.additionalProperties !== true && !isPlainObject(schema.additionalProperties)) {
      const unknown = Object.keys(value).filter((k) => !Object.hasOwn(properties, k));
      if (unknown.length) return `unknown argument(s) ${unknown.map((k) => `${path}.${k}`).join(', ')}`;
    }
    for (const [k, v] of Object.entries(value)) {
      const problem = Object.hasOwn(properties, k) && isPlainObject(properties[k]) ? valueProblem(v, properties[k], `${path}.${k}`) : undefined;
      if (problem) return problem;
    }
  }
  if (Array.isArray(value) && isPlainObject(schema.items)) {
    for (let i = 0; i < value.length; i++) {
      const problem = valueProblem(value[i], schema.items as JsonSchema, `${path}[${i}]`);
      if (problem) return problem;
    }
  }
  return undefined;
}

/**
 * JSON equality as JSON Schema's enum means it: numbers by value, strings
 * exactly, arrays in order, objects by their keys whatever their order
 * (comparing JSON.stringify texts would make key order count).
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
  }
  return a === b;
}

function hasJsonType(value: unknown, type: string): boolean {
  if (type === 'integer') return typeof value === 'number' && Number.isInteger(value);
  return jsonTypeOf(value) === type || (type === 'number' && jsonTypeOf(value) === 'integer');
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function valuesEqual(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof b === 'number') return asNumber(a) !== undefined && asNumber(a) === asNumber(b);
  if (typeof a === 'string' && typeof b === 'string') return normaliseString(a) === normaliseString(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => valuesEqual(v, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && valuesEqual(a[k], b[k]));
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
