/**
 * An auth client that adds no credentials, for the official Google Cloud
 * clients pointed at a local http: stand-in (the fake Compute API, the fake
 * Secret Manager). These client versions' REST transport calls
 * authClient.fetch(url, init), so a bare getRequestHeaders is not enough;
 * plain fetch does the request.
 */
export function noAuth(): unknown {
  return {
    getRequestHeaders: async () => new Headers(),
    fetch: (url: string, init: Pick<RequestInit, 'method' | 'headers' | 'body' | 'signal'>) =>
      fetch(url, { method: init.method, headers: init.headers, body: init.body, signal: init.signal }),
  };
}
