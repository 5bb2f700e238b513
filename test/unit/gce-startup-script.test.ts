/**
 * Hostile values in every config field that reaches a GCE VM: each is either
 * rejected by validation (naming the field) or arrives in the startup script
 * inert, as the same bytes. "Inert" is checked by running the rendered script
 * through bash: `bash -n`, then its value block, its `declare -p` hand-off and
 * its run-agent script with a stub `docker` that records its argv. Then what the
 * script does with the GPUs the VM must have and with the container's work folder.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GceHostConfig, PipelineConfig } from '../../src/config/schema';
import { AGENT_UID, renderStartupScript, renderValues, StartupValueInvalid, VALUES_BEGIN, VALUES_END, type StartupValues } from '../../src/hosts/startupScript';
import { scratchDir } from '../support/scratch';

/** Each would run `touch <canary>` if it ever became code. */
function hostile(canary: string): string[] {
  return [
    `'; touch ${canary}; echo '`,
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `"; touch ${canary}; "`,
    `\${IFS}$(touch\${IFS}${canary})`,
    `\\'$(touch ${canary})\\'`,
    `ünïcødé ✓ 🚀 \u202e $(touch ${canary})`,
    `FT_RUN_AGENT\nFT_UNIT`,
  ];
}
const NEWLINE_FREE = (v: string) => !/[\u0000-\u001f\u007f]/.test(v);

const gce = {
  provider: 'gce',
  project: 'finetune-test',
  zones: ['us-central1-a'],
  machine_type: 'a2-highgpu-2g',
  trainer_image: 'us-docker.pkg.dev/finetune-test/trainer/trainer:1',
};

function scratch(): string {
  return scratchDir('startup-script-');
}

/**
 * Runs the script's run-agent part (after the startup script wrote agent.vars under dir)
 * with PATH holding only a stub docker that records `docker run`'s argv, and an
 * nvidia-smi when asked: what a VM with or without the NVIDIA driver has.
 */
function runAgent(
  dir: string,
  script: string,
  opts: { nvidiaSmi: boolean; imageOnDisk?: boolean },
): { status: number; stderr: string; stdout: string; argv: string[]; calls: string[] } {
  fs.writeFileSync(path.join(dir, 'run-agent.sh'), script.split("<<'FT_RUN_AGENT'\n")[1].split('\nFT_RUN_AGENT\n')[0]);
  const bin = path.join(dir, 'bin');
  fs.rmSync(bin, { recursive: true, force: true });
  fs.mkdirSync(bin);
  const argvFile = path.join(dir, 'argv');
  fs.rmSync(argvFile, { force: true });
  const callsFile = path.join(dir, 'docker-calls');
  fs.rmSync(callsFile, { force: true });
  fs.writeFileSync(
    path.join(bin, 'docker'),
    `#!/bin/bash\necho "$1 $2" >> ${JSON.stringify(callsFile)}\n` +
      `if [ "$1 $2" = "image inspect" ]; then exit ${opts.imageOnDisk === false ? 1 : 0}; fi\n` +
      `if [ "$1" = run ]; then printf '%s\\0' "$@" > ${JSON.stringify(argvFile)}; fi\n`,
    { mode: 0o755 },
  );
  if (opts.nvidiaSmi) fs.writeFileSync(path.join(bin, 'nvidia-smi'), '#!/bin/bash\n', { mode: 0o755 });
  const r = spawnSync('/bin/bash', ['run-agent.sh'], { cwd: dir, env: { PATH: bin, FT_ROOT: dir }, encoding: 'utf8' });
  const argv = fs.existsSync(argvFile) ? fs.readFileSync(argvFile, 'utf8').split('\0').slice(0, -1) : [];
  const calls = fs.existsSync(callsFile) ? fs.readFileSync(callsFile, 'utf8').split('\n').filter(Boolean) : [];
  return { status: r.status ?? -1, stderr: r.stderr, stdout: r.stdout, argv, calls };
}

/** Runs the whole startup script as a VM boots it, rooted in dir, with a systemctl that does nothing. */
function boot(dir: string, values: StartupValues): string {
  const script = renderStartupScript(values);
  const bin = path.join(dir, 'boot-bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'systemctl'), '#!/bin/bash\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'startup.sh'), script);
  execFileSync('bash', [path.join(dir, 'startup.sh')], { env: { PATH: `${bin}:/usr/bin:/bin`, FT_ROOT: dir } });
  return script;
}

describe('GCE config validation rejects hostile values, naming the field', () => {
  const canary = '/tmp/never';
  const fields: [string, (v: string) => unknown][] = [
    ['project', (v) => ({ project: v })],
    ['zones', (v) => ({ zones: [v] })],
    ['machine_type', (v) => ({ machine_type: v })],
    ['image', (v) => ({ image: v })],
    ['service_account', (v) => ({ service_account: v })],
    ['scopes', (v) => ({ scopes: [v] })],
    ['network', (v) => ({ network: v })],
    ['subnetwork', (v) => ({ subnetwork: v })],
    ['trainer_image', (v) => ({ trainer_image: v })],
  ];
  for (const [field, patch] of fields) {
    it(`host.${field}`, () => {
      for (const value of [...hostile(canary), `${gce.trainer_image} x`, 'ok\n', '']) {
        const parsed = GceHostConfig.safeParse({ ...gce, ...(patch(value) as object) });
        assert.equal(parsed.success, false, `${field} accepted ${JSON.stringify(value)}`);
        assert.equal(parsed.error!.issues[0].path[0], field);
      }
    });
  }

  it('accepts a plausible real config and fills the defaults', () => {
    const c = GceHostConfig.parse({ ...gce, subnetwork: 'regions/us-central1/subnetworks/gpu', service_account: 'finetune-vm@finetune-test.iam.gserviceaccount.com' });
    assert.equal(c.spot, true);
    assert.equal(c.capacity_wait_s, 7200);
    assert.equal(c.prefer_new_zone_after_preemption, true);
  });
});

describe('the startup script keeps values inert', () => {
  it('a store prefix with shell in it passes validation, so it must be quoted', () => {
    const parsed = PipelineConfig.shape.store.safeParse(`gs://bucket/$(touch /tmp/x)'"\`x\``);
    assert.equal(parsed.success, true);
  });

  it('control characters in any value are rejected, naming the value', () => {
    const ok = { storeUri: 'gs://b/p', runId: 'r', hostId: 'r-h1', trainerImage: 'img/x:1', gpus: 0 };
    for (const [field, key] of [
      ['store', 'storeUri'],
      ['run id', 'runId'],
      ['host id', 'hostId'],
      ['host.trainer_image', 'trainerImage'],
    ] as const) {
      for (const bad of ['a\nb', 'a\rb', 'a\u0000b', 'a\tb', 'a\u001bb']) {
        assert.throws(
          () => renderValues({ ...ok, [key]: bad }),
          (err: unknown) => err instanceof StartupValueInvalid && err.field === field,
        );
      }
    }
    assert.throws(() => renderValues({ ...ok, env: { 'BAD NAME': 'x' } }), StartupValueInvalid);
    for (const bad of [-1, 1.5, Number.NaN]) {
      assert.throws(
        () => renderValues({ ...ok, gpus: bad }),
        (err: unknown) => err instanceof StartupValueInvalid && err.field === 'gpus',
      );
    }
  });

  it('bash parses the whole script, and every hostile value arrives as the same bytes, running nothing', () => {
    const dir = scratch();
    const canary = path.join(dir, 'pwned');
    for (const value of hostile(canary).filter(NEWLINE_FREE)) {
      // Ids follow the run id rule (src/jobs/runId.ts), so a hostile one never gets this far.
      for (const [field, key] of [
        ['run id', 'runId'],
        ['host id', 'hostId'],
      ] as const) {
        assert.throws(
          () => renderValues({ storeUri: 'gs://b/p', runId: 'r', hostId: 'r-h1', trainerImage: 'img/x:1', gpus: 0, ...{ [key]: value } }),
          (err: unknown) => err instanceof StartupValueInvalid && err.field === field,
        );
      }
      const values = {
        storeUri: `gs://finetune-runs/${value}`,
        runId: 'r-1',
        hostId: 'r-1-h1',
        trainerImage: value,
        gpus: 2,
        env: { STORAGE_EMULATOR_HOST: value },
      };
      const script = renderStartupScript(values);
      const file = path.join(dir, 'startup.sh');
      fs.writeFileSync(file, script);
      execFileSync('bash', ['-n', file]);

      // 1. The value block, sourced: each variable holds exactly the input.
      const block = script.slice(script.indexOf(VALUES_BEGIN), script.indexOf(VALUES_END) + VALUES_END.length);
      fs.writeFileSync(path.join(dir, 'values.sh'), block);
      const declareLine = script.split('\n').find((l) => l.startsWith('declare -p '))!;
      // FT_ROOT roots the script's files in dir, as the VM stand-in of the integration tests does.
      fs.mkdirSync(path.join(dir, 'etc/durable-finetune'), { recursive: true });
      const root = { ...process.env, FT_ROOT: dir };
      const out = execFileSync(
        'bash',
        ['-c', `set -euo pipefail; source values.sh; root="$FT_ROOT"; ${declareLine}; printf '%s\\0' "$FT_STORE" "$FT_RUN_ID" "$FT_HOST_ID" "$FT_IMAGE" "\${FT_ENV[@]}"`],
        { cwd: dir, env: root },
      ).toString();
      assert.deepEqual(out.split('\0').slice(0, -1), [values.storeUri, values.runId, values.hostId, values.trainerImage, '-e', `STORAGE_EMULATOR_HOST=${value}`]);

      // 2. The run-agent script, with the hand-off file and a stub docker: the agent's argv is exact.
      const { argv } = runAgent(dir, script, { nvidiaSmi: true });
      const after = (flag: string) => argv[argv.indexOf(flag) + 1];
      assert.equal(after('--store'), values.storeUri);
      assert.equal(after('--run'), values.runId);
      assert.equal(after('--host'), values.hostId);
      assert.ok(argv.includes(values.trainerImage));
      assert.equal(after('-e'), `STORAGE_EMULATOR_HOST=${value}`);

      assert.equal(fs.existsSync(canary), false, `a value ran as code: ${JSON.stringify(value)}`);
    }
  });
});

describe('the startup script runs the agent on the GPUs the machine type has, as the image user', () => {
  const values = { storeUri: 'gs://b/p', runId: 'r', hostId: 'r-h1', trainerImage: 'img/x:1' };

  it('the work folder mounted at /work belongs to the agent user, who runs the container', () => {
    const dir = scratch();
    const script = boot(dir, { ...values, gpus: 0 });
    const work = fs.statSync(path.join(dir, 'var/lib/durable-finetune'));
    assert.equal(work.uid, AGENT_UID);
    assert.equal(work.gid, AGENT_UID);
    assert.equal(work.mode & 0o777, 0o750);
    const { argv } = runAgent(dir, script, { nvidiaSmi: false });
    assert.equal(argv[argv.indexOf('--user') + 1], `${AGENT_UID}:${AGENT_UID}`);
    assert.ok(argv.includes(`${dir}/var/lib/durable-finetune:/work`), argv.join(' '));
  });

  it('a machine type with GPUs runs the container with --gpus all', () => {
    const dir = scratch();
    const { status, argv } = runAgent(dir, boot(dir, { ...values, gpus: 2 }), { nvidiaSmi: true });
    assert.equal(status, 0);
    assert.equal(argv[argv.indexOf('--gpus') + 1], 'all');
  });

  it('a VM that should have GPUs but has no NVIDIA driver starts no agent and says why on the console', () => {
    const dir = scratch();
    const { status, stderr, argv } = runAgent(dir, boot(dir, { ...values, gpus: 2 }), { nvidiaSmi: false });
    assert.notEqual(status, 0, 'the unit fails (systemd restarts it), it does not start a CPU run');
    assert.deepEqual(argv, [], 'docker run was never called');
    assert.match(stderr, /GpuMissing: this VM should have 2 GPU\(s\) but has no nvidia-smi/);
    assert.match(stderr, /host\.image with the driver/);
  });

  it('pulls the trainer image only when the disk lacks it (a baked host.image has it: finetune image bake)', () => {
    const dir = scratch();
    const script = boot(dir, { ...values, gpus: 0 });
    const baked = runAgent(dir, script, { nvidiaSmi: false, imageOnDisk: true });
    assert.equal(baked.status, 0);
    assert.deepEqual(
      baked.calls.map((c) => c.split(' ')[0]),
      ['image', 'rm', 'run'],
      'no pull',
    );
    assert.match(baked.stdout, /trainer image img\/x:1 is on this disk \(baked host\.image\): no pull/);
    const stock = runAgent(dir, script, { nvidiaSmi: false, imageOnDisk: false });
    assert.equal(stock.status, 0);
    assert.deepEqual(
      stock.calls.map((c) => c.split(' ')[0]),
      ['image', 'pull', 'rm', 'run'],
    );
    assert.match(stock.stdout, /pulling trainer image img\/x:1/);
  });

  it('0 GPUs (preflight.gpus: 0) runs without --gpus, driver or not', () => {
    const dir = scratch();
    const script = boot(dir, { ...values, gpus: 0 });
    for (const nvidiaSmi of [false, true]) {
      const { status, argv } = runAgent(dir, script, { nvidiaSmi });
      assert.equal(status, 0);
      assert.equal(argv.includes('--gpus'), false, argv.join(' '));
    }
  });
});
