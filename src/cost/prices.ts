/**
 * Hourly prices of the machine types we provision, on demand and spot.
 * Read from the us-central1 price list on 2025-03 (a2-highgpu-1g/2g); the
 * larger a2 shapes are those prices scaled by GPU count, which is how the list
 * is built. Spot prices change up to daily: override them in `cost.prices`.
 */
export interface MachinePrice {
  on_demand: number;
  spot: number;
}

export const PRICE_TABLE_REGION = 'us-central1';
export const PRICE_TABLE_READ_ON = '2025-03';

export const MACHINE_PRICES: Record<string, MachinePrice> = {
  'a2-highgpu-1g': { on_demand: 3.67, spot: 1.29 },
  'a2-highgpu-2g': { on_demand: 7.35, spot: 2.59 },
  'a2-highgpu-4g': { on_demand: 14.69, spot: 5.18 },
  'a2-highgpu-8g': { on_demand: 29.39, spot: 10.36 },
};

export class PriceUnknown extends Error {
  readonly name = 'PriceUnknown';
  constructor(readonly machineType: string) {
    super(`no price for machine type ${machineType}: add it under cost.prices in the config`);
  }
}

/** USD per hour for one host; local hosts cost what the config says (default 0). */
export function hourlyRate(
  host: { provider: string; machine_type?: string; spot?: boolean },
  overrides: Record<string, MachinePrice>,
  localRate: number,
): number {
  if (host.provider === 'local') return localRate;
  const type = host.machine_type ?? '';
  const price = overrides[type] ?? MACHINE_PRICES[type];
  if (!price) throw new PriceUnknown(type);
  return host.spot === false ? price.on_demand : price.spot;
}
