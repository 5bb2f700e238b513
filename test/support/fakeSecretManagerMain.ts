/**
 * The fake Secret Manager as a process, for tests in other languages
 * (trainer/tests, the `secret_manager` fixture): prints {"url": ...}, then
 * answers one JSON command per stdin line with one JSON line:
 *
 *   {"put": [project, secret, value]}      -> {"ref": "secret:gcp:..."}
 *   {"deny": [project, secret]}            -> {}
 *   {"disable": [project, secret, n]}      -> {}
 *   {"accesses": true}                     -> {"accesses": [{path, status, client}, ...]}
 *
 * and exits when stdin closes or on SIGTERM.
 */
import * as readline from 'node:readline';
import { startFakeSecretManager } from './fakeSecretManager';

async function main(): Promise<void> {
  const sm = await startFakeSecretManager();
  process.stdout.write(`${JSON.stringify({ url: sm.url })}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const cmd = JSON.parse(line) as { put?: [string, string, string]; deny?: [string, string]; disable?: [string, string, number]; accesses?: boolean };
    let reply: unknown = {};
    if (cmd.put) reply = { ref: sm.put(...cmd.put) };
    else if (cmd.deny) sm.deny(...cmd.deny);
    else if (cmd.disable) sm.disable(...cmd.disable);
    else if (cmd.accesses) reply = { accesses: sm.accesses };
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  });
  const stop = () => void sm.close().then(() => process.exit(0));
  lines.on('close', stop);
  process.on('SIGTERM', stop);
}

void main();
