/**
 * Registers the search attributes runs carry (SEARCH_ATTRIBUTES) on a server
 * that lacks some: a dev server left running by an older version of this
 * project would otherwise refuse every new run's start.
 */
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from './devServer';
import type { TemporalSettings } from './connection';

const TYPES: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Double: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
};

/** Adds the missing ones; returns their names. */
export async function ensureSearchAttributes(settings: TemporalSettings): Promise<string[]> {
  const connection = await Connection.connect(settings.connection);
  try {
    const { namespace } = settings;
    const have = await connection.operatorService.listSearchAttributes({ namespace });
    const known = new Set([...Object.keys(have.customAttributes ?? {}), ...Object.keys(have.systemAttributes ?? {})]);
    const missing = SEARCH_ATTRIBUTES.map((a) => a.split('=') as [string, string]).filter(([name]) => !known.has(name));
    if (missing.length > 0) {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, TYPES[type]])),
      });
    }
    return missing.map(([name]) => name);
  } finally {
    await connection.close();
  }
}
