/**
 * The GCE path on this machine, as the gce integration test and the container
 * tier run it: the GCS emulator, the fake Compute API whose VMs boot their own
 * startup script (fakeVm.ts), and a harness whose worker starts after the
 * environment points its GCE provider and the rendered scripts at both.
 */
import { startFakeCompute, type FakeCompute } from './fakeCompute';
import { bootVm, type FakeVm, type FakeVmOptions } from './fakeVm';
import { startGcsEmulator, type GcsEmulator } from './gcsEmulator';
import { startHarness, type Harness } from './integration';

export interface GceWorld {
  h: Harness;
  gcs: GcsEmulator;
  fake: FakeCompute;
  /** Every VM the fake made, in order. */
  vms: FakeVm[];
  /** The shutdowns of deleted VMs, to await before asserting that nothing is left. */
  shutdowns: Promise<unknown>[];
  close(): Promise<void>;
}

const ENV = ['STORAGE_EMULATOR_HOST', 'FINETUNE_GCE_API_ENDPOINT'] as const;

export async function startGceWorld(name: string, buckets: string[], vm: Omit<FakeVmOptions, 'dir'> = {}): Promise<GceWorld> {
  const saved = ENV.map((key) => [key, process.env[key]] as const);
  const vms: FakeVm[] = [];
  const shutdowns: Promise<unknown>[] = [];
  const started: { close(): Promise<void> }[] = [];
  const close = async () => {
    await Promise.all(shutdowns);
    await Promise.all(vms.map((v) => v.shutdown()));
    for (const part of started.reverse()) await part.close();
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  try {
    const gcs = await startGcsEmulator(buckets);
    started.push({ close: () => gcs.stop() });
    const fake = await startFakeCompute('finetune-test');
    started.push(fake);
    process.env.STORAGE_EMULATOR_HOST = gcs.host;
    process.env.FINETUNE_GCE_API_ENDPOINT = fake.url;
    const h = await startHarness(name);
    started.push(h);
    fake.onCreate = (inst) => vms.push(bootVm(inst, { ...vm, dir: h.dir }));
    fake.onDelete = (inst) => {
      const found = vms.find((v) => v.name === inst.name && v.zone === inst.zone);
      if (found) shutdowns.push(found.shutdown());
    };
    return { h, gcs, fake, vms, shutdowns, close };
  } catch (err) {
    await close();
    throw err;
  }
}
