/** Workflow history as text a test can search: payload data is base64 in the JSON, so each is decoded in place. */
export function historyText(history: unknown): string {
  return JSON.stringify(history).replace(/"data":"([A-Za-z0-9+/=]*)"/g, (_m, b64: string) => JSON.stringify(Buffer.from(b64, 'base64').toString('utf8')));
}
