/**
 * Answer matches against a reference, two ways: exact (the trimmed reply is
 * the reference) and normalised (src/eval/text.ts normaliseAnswer). Both are
 * reported; a gap between them says the model's formatting, not its answers,
 * moves the number.
 */
import { normaliseAnswer } from './text';

export function answerExact(output: string, reference: string): boolean {
  return output.trim() === reference.trim();
}

export function answerNormalised(output: string, reference: string): boolean {
  return normaliseAnswer(output) === normaliseAnswer(reference);
}
