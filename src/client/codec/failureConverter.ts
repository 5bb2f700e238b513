/**
 * The failure converter of every worker and client: a failure's message and
 * stack trace go into its encoded attributes, a payload, so the codec seals
 * them like any other payload. Loaded by path (the workflow bundle includes
 * it), so it imports nothing but the SDK's common package.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
