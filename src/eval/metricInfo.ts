/**
 * What each metric means and which way is better. Pure (no Node imports):
 * the config schema and the workflow's gate read it too.
 */
export const METRIC_NAMES = [
  'tool_call_match',
  'tool_call_match_lenient',
  'tool_call_schema_valid',
  'name_match',
  'valid_json',
  'citation_presence',
  'citation_precision',
  'citation_precision_lenient',
  'citation_recall',
  'citation_recall_lenient',
  'citation_fabricated',
  'answer_exact',
  'answer_normalised',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export interface MetricInfo {
  /** False for rates of something bad (fabricated citations): lower is better. */
  higherIsBetter: boolean;
  description: string;
}

export const METRICS: Record<MetricName, MetricInfo> = {
  tool_call_match: { higherIsBetter: true, description: 'the reply is exactly one call (strict parse) equal to the expected call, typed per the tool schema' },
  tool_call_match_lenient: { higherIsBetter: true, description: 'a call found anywhere in the reply (lenient parse) equals the expected call' },
  tool_call_schema_valid: { higherIsBetter: true, description: 'the strictly parsed call names a given tool and fits its JSON schema' },
  name_match: { higherIsBetter: true, description: 'the strictly parsed call has the expected name' },
  valid_json: { higherIsBetter: true, description: 'the reply is one JSON object' },
  citation_presence: { higherIsBetter: true, description: 'the reply carries at least one [n] marker (says nothing about whether it is right)' },
  citation_precision: { higherIsBetter: true, description: 'share of citations whose source exists and supports the sentence (strict overlap)' },
  citation_precision_lenient: { higherIsBetter: true, description: 'citation precision with the lenient overlap threshold' },
  citation_recall: { higherIsBetter: true, description: 'share of sentences needing a citation that cite a supporting source (strict overlap)' },
  citation_recall_lenient: { higherIsBetter: true, description: 'citation recall with the lenient overlap threshold' },
  citation_fabricated: { higherIsBetter: false, description: 'share of citations pointing at a source index that was not given' },
  answer_exact: { higherIsBetter: true, description: 'the trimmed reply equals the reference answer' },
  answer_normalised: { higherIsBetter: true, description: 'reply equals the reference after case, punctuation, article and number normalisation' },
};

/**
 * Pairs of metrics that measure one thing two defensible ways. A gap between
 * them above eval.disagreement_points means the number depends on the method,
 * so a person should read outputs before trusting either.
 */
export const METHOD_PAIRS: readonly { a: MetricName; b: MetricName; what: string }[] = [
  { a: 'tool_call_match', b: 'tool_call_match_lenient', what: 'strict vs lenient call parsing' },
  { a: 'citation_precision', b: 'citation_precision_lenient', what: 'strict vs lenient support threshold' },
  { a: 'citation_recall', b: 'citation_recall_lenient', what: 'strict vs lenient support threshold' },
  { a: 'citation_presence', b: 'citation_precision', what: 'markers present vs markers that hold up' },
  { a: 'answer_exact', b: 'answer_normalised', what: 'exact vs normalised answer match' },
];

export function isMetricName(name: string): name is MetricName {
  return (METRIC_NAMES as readonly string[]).includes(name);
}

export function higherIsBetter(metric: string): boolean {
  return isMetricName(metric) ? METRICS[metric].higherIsBetter : true;
}
