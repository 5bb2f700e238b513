/**
 * Deterministic text handling shared by the metrics: sentences, content
 * tokens, and the normalisation used by "normalised" matches. No models, no
 * randomness: the same text always scores the same.
 */

/** Citation markers: [1], [1, 2], [1][2], [2-4]. */
const MARKER = /\[\s*\d+(?:\s*[-–,;]\s*\d+)*\s*\]/g;

const STOPWORDS = new Set(
  (
    'a an the and or but if of to in on at by for with from as is are was were be been being it its this that these those ' +
    'there here than then so such not no nor do does did has have had will would can could should may might must shall ' +
    'i you he she we they me him her us them my your his our their what which who whom whose when where why how ' +
    'also very just about into over under again more most some any each both all other only own same too'
  ).split(' '),
);

/** The cited indices of a marker text such as "[1, 3-4]". */
export function markerIndices(marker: string): number[] {
  const out: number[] = [];
  for (const part of marker.replace(/[[\]\s]/g, '').split(/[,;]/)) {
    const range = part.split(/[-–]/).map(Number);
    if (range.length === 2 && range[1] >= range[0] && range[1] - range[0] <= 50) {
      for (let i = range[0]; i <= range[1]; i++) out.push(i);
    } else {
      out.push(...range);
    }
  }
  return out.filter((n) => Number.isInteger(n));
}

export interface CitedSentence {
  /** The sentence without its markers. */
  text: string;
  /** Cited indices, each once, in order of appearance. */
  cited: number[];
}

/**
 * Sentences with the markers that belong to them. A marker right after the
 * full stop ("... capital. [1] Next") belongs to the sentence before it.
 */
export function citedSentences(response: string): CitedSentence[] {
  const broken = response.replace(/([.!?]+(?:\s*\[[^\]\n]*\])*)\s+/g, '$1\n');
  const pieces = broken
    .split(/\n+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const out: CitedSentence[] = [];
  for (const piece of pieces) {
    const cited: number[] = [];
    for (const m of piece.match(MARKER) ?? []) for (const i of markerIndices(m)) if (!cited.includes(i)) cited.push(i);
    out.push({ text: piece.replace(MARKER, ' ').replace(/\s+/g, ' ').trim(), cited });
  }
  return out;
}

export function hasMarker(response: string): boolean {
  return new RegExp(MARKER.source).test(response);
}

/** Lower-cased words and numbers without stopwords, with a light plural strip. */
export function contentTokens(text: string): string[] {
  const words =
    text
      .normalize('NFKC')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? [];
  return words.filter((w) => !STOPWORDS.has(w) && (w.length > 1 || /\d/.test(w))).map(stem);
}

function stem(w: string): string {
  if (/\d/.test(w) || w.length <= 3) return w;
  if (w.endsWith('ies') && w.length > 4) return `${w.slice(0, -3)}y`;
  if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) return w.slice(0, -1);
  return w;
}

/**
 * How much of the sentence the source states: the share of the sentence's
 * distinct content tokens that occur in the source (0 when the sentence has none).
 */
export function supportScore(sentence: string, source: string): number {
  const claim = new Set(contentTokens(sentence));
  if (claim.size === 0) return 0;
  const known = new Set(contentTokens(source));
  let hits = 0;
  for (const t of claim) if (known.has(t)) hits++;
  return hits / claim.size;
}

/**
 * The normalisation of "normalised" answer matches (as SQuAD's): case, Unicode
 * form, punctuation, the articles a/an/the, thousands separators and trailing
 * zeros of decimals, and runs of whitespace do not count.
 */
export function normaliseAnswer(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/(\d),(?=\d{3}\b)/g, '$1')
    .replace(/(\d+)\.(\d*?)0+\b/g, (_, int: string, frac: string) => (frac === '' ? int : `${int}.${frac}`))
    .replace(/[^\p{L}\p{N}.\s]|\.(?!\d)/gu, ' ')
    .replace(/\b(a|an|the)\b/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
