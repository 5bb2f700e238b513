/**
 * A JSONL data file as the trainer reads it (trainer/durable_finetune/runtime.py
 * read_jsonl): UTF-8 text, one JSON value per line, blank lines skipped. Each
 * line that the trainer would fail on is named here, before any host starts.
 */

export interface JsonlRow {
  line: number;
  value: unknown;
}

export interface LineIssue {
  /** 1-based; 0 for the file as a whole. */
  line: number;
  /** Where in the row, as a dotted path ('messages.2.role'); '' for the whole line. */
  key: string;
  problem: string;
  value?: unknown;
}

export interface JsonlText {
  rows: JsonlRow[];
  issues: LineIssue[];
  /** The text with undecodable bytes replaced and no BOM, line for line the file's. */
  text: string;
}

const BOM = [0xef, 0xbb, 0xbf];

/** Decodes bytes line by line and parses each non-blank line as JSON (parseJson: false leaves that to the caller). */
export function readJsonl(bytes: Uint8Array, opts: { parseJson?: boolean } = {}): JsonlText {
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const lossy = new TextDecoder('utf-8', { ignoreBOM: true });
  const rows: JsonlRow[] = [];
  const issues: LineIssue[] = [];
  const lines: string[] = [];
  let start = 0;
  if (BOM.every((b, i) => bytes[i] === b)) {
    issues.push({ line: 1, key: '', problem: "starts with a byte order mark (BOM), which the trainer's JSON reader refuses; save the file as UTF-8 without BOM" });
    start = BOM.length;
  }
  for (let line = 1; start <= bytes.length; line++) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl < 0 ? bytes.length : nl;
    const raw = bytes.subarray(start, end);
    start = end + 1;
    let text: string;
    try {
      text = strict.decode(raw);
    } catch {
      text = lossy.decode(raw);
      const column = text.indexOf('\ufffd') + 1;
      issues.push({ line, key: '', problem: `is not UTF-8 text (first bad byte at column ${column}; Latin-1 or Windows-1252?); save the file as UTF-8` });
      lines.push(text);
      continue;
    }
    lines.push(text);
    if (text.trim() === '' || opts.parseJson === false) continue;
    try {
      rows.push({ line, value: JSON.parse(text) });
    } catch (err) {
      const reason = (err as Error).message.replace(/ in JSON at position (\d+)(?: \(line \d+ column \d+\))?/, (_, at: string) => ` at column ${Number(at) + 1}`);
      issues.push({ line, key: '', problem: `is not valid JSON (${reason}); write one JSON object per line` });
    }
  }
  if (lines.every((l) => l.trim() === '')) {
    issues.push({ line: 0, key: '', problem: 'holds no rows (the file is empty or only blank lines); write one JSON object per line' });
  }
  return { rows, issues, text: lines.join('\n') };
}
