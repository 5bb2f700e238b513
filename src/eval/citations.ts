/**
 * Citation metrics for replies grounded in numbered sources. Presence (any
 * marker) is reported only beside the measures that check the markers:
 * precision (the cited source exists and supports the sentence), recall (the
 * sentences that need a citation have a supporting one) and the fabricated
 * index rate. Every measure is computed per reply and then averaged over
 * replies, and an unsupported marker only ever adds to a denominator, so
 * sprinkling markers can raise presence but never precision or recall.
 */
import { citedSentences, contentTokens, hasMarker, supportScore } from './text';

export interface Source {
  index: number;
  text: string;
}

/**
 * Share of a sentence's content tokens that the source must contain for the
 * source to support it. Two thresholds, both reported: a claim that half
 * matches its source is supported for one reader and not for another.
 */
export const SUPPORT_STRICT = 0.6;
export const SUPPORT_LENIENT = 0.35;

/** A sentence with fewer content tokens than this states nothing to cite ("Sure.", "Here you go:"). */
const MIN_CLAIM_TOKENS = 2;

export interface SentenceJudgement {
  text: string;
  cited: number[];
  /** Cited indices that are not among the sources. */
  fabricated: number[];
  /** Cited indices whose source supports the sentence. */
  supportedCitations: number[];
  /** The best support any given source lends the sentence (0..1). */
  bestSupport: number;
  needsCitation: boolean;
}

export interface CitationScore {
  presence: number;
  precision: number;
  recall: number;
  fabricated: number;
  citations: number;
  sentences: SentenceJudgement[];
}

/**
 * Judges one reply at one support threshold. A sentence needs a citation when
 * it makes a claim that a source supports, or when it cites anything (it
 * claims to be sourced). Precision and the fabricated rate are 0 for a reply
 * without citations; recall is 0 for a reply in which nothing needs one
 * (the item gave sources, so an ungrounded reply did not use them).
 */
export function scoreCitations(response: string, sources: Source[], threshold = SUPPORT_STRICT): CitationScore {
  const byIndex = new Map(sources.map((s) => [s.index, s.text]));
  const sentences: SentenceJudgement[] = citedSentences(response).map(({ text, cited }) => {
    const isClaim = new Set(contentTokens(text)).size >= MIN_CLAIM_TOKENS;
    const supportOf = (index: number): number => (isClaim && byIndex.has(index) ? supportScore(text, byIndex.get(index)!) : 0);
    const bestSupport = Math.max(0, ...sources.map((s) => supportOf(s.index)));
    return {
      text,
      cited,
      fabricated: cited.filter((i) => !byIndex.has(i)),
      supportedCitations: cited.filter((i) => supportOf(i) >= threshold),
      bestSupport,
      needsCitation: isClaim && (cited.length > 0 || bestSupport >= threshold),
    };
  });
  const citations = sentences.reduce((n, s) => n + s.cited.length, 0);
  const supported = sentences.reduce((n, s) => n + s.supportedCitations.length, 0);
  const fabricated = sentences.reduce((n, s) => n + s.fabricated.length, 0);
  const needing = sentences.filter((s) => s.needsCitation);
  const covered = needing.filter((s) => s.supportedCitations.length > 0).length;
  return {
    presence: hasMarker(response) ? 1 : 0,
    precision: citations === 0 ? 0 : supported / citations,
    recall: needing.length === 0 ? 0 : covered / needing.length,
    fabricated: citations === 0 ? 0 : fabricated / citations,
    citations,
    sentences,
  };
}
