/**
 * GPUs per GCE machine type, read from the name (the schema's machine_type
 * pattern admits only these families), so a config asking for more training
 * ranks than its VM has GPUs is refused before a paid VM starts. Pure: the
 * workflow imports the schema.
 */
const G2_GPUS: Record<string, number> = { '4': 1, '8': 1, '12': 1, '16': 1, '24': 2, '32': 1, '48': 4, '96': 8 };

/** GPUs of a GCE machine type; undefined for a type this table does not know. */
export function gpusOfMachineType(machineType: string): number | undefined {
  const g2 = /^g2-standard-(\d+)$/.exec(machineType);
  if (g2) return G2_GPUS[g2[1]];
  const a = /^a[23]-(?:highgpu|megagpu|ultragpu)-(\d+)g$/.exec(machineType);
  return a ? Number(a[1]) : undefined;
}

/**
 * The GPUs a run's hosts must show (preflight.gpus resolved): the machine type's on gce,
 * none required on a local host (null: use what is there), or the number the config names.
 */
export function expectedGpus(config: { host: { provider: string; machine_type?: string }; preflight: { gpus: 'auto' | number } }): number | null {
  if (config.preflight.gpus !== 'auto') return config.preflight.gpus;
  if (config.host.provider !== 'gce' || config.host.machine_type === undefined) return null;
  return gpusOfMachineType(config.host.machine_type) ?? null;
}
