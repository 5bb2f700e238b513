/**
 * The local Hub as a process, for tests in other languages (trainer/tests):
 * publishes the tiny models, prints one JSON line (url, commits, tokens) and
 * serves until stdin closes or SIGTERM.
 */
import { projectRoot } from '../../src/paths';
import { LocalHub, publishTinyModels, TINY_HUB_TOKENS } from './hubServer';

async function main(): Promise<void> {
  const hub = await LocalHub.start();
  const commits = publishTinyModels(hub, projectRoot);
  process.stdout.write(`${JSON.stringify({ url: hub.url, commits, tokens: TINY_HUB_TOKENS })}\n`);
  const stop = () => void hub.close().then(() => process.exit(0));
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
}

void main();
