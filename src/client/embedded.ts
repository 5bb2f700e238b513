/**
 * The embedded dev server that the demo and `finetune dev` share: reused when
 * one already listens, else started detached so the UI stays up after the
 * demo ends (stop it with `kill $(cat .finetune/temporal.pid)`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stateDir } from '../paths';
import { portOpen, startDevServer } from './devServer';

export interface EmbeddedServer {
  address: string;
  uiUrl: string;
  started: boolean;
}

export async function ensureDevServer(port = 7233, uiPort = 8233): Promise<EmbeddedServer> {
  const address = `localhost:${port}`;
  const uiUrl = `http://localhost:${uiPort}`;
  if (await portOpen(port)) return { address, uiUrl, started: false };
  const server = await startDevServer({ port, uiPort, detached: true, logFile: path.join(stateDir(), 'temporal.log') });
  fs.writeFileSync(path.join(stateDir(), 'temporal.pid'), String(server.process.pid));
  return { address, uiUrl, started: true };
}
