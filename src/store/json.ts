/** Reading a JSON document out of any store, with an error that names the key and the store. */
export function parseStoredJson<T>(bytes: Buffer | undefined, key: string, storeUri: string): T | undefined {
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new Error(`store key ${key} in ${storeUri} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}
