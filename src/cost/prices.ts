/**
 * Hourly prices of the GCE GPU machine types a run may ask for, on demand and
 * spot, in us-central1 (source: the public Compute Engine price list,
 * https://cloud.google.com/compute/vm-instance-pricing and /spot-vms/pricing).
 * Each family says how sure its figures are (PRICE_SOURCES): only a2-highgpu-1g
 * and -2g were read from the list (2025-03); the rest are marked for a refresh
 * and `finetune plan` says so next to every dollar figure it prints. Spot
 * prices change up to daily: a config overrides any of them in `cost.prices`.
 */
export interface MachinePrice {
  on_demand: number;
  spot: number;
}

export const PRICE_TABLE_REGION = 'us-central1';
export const PRICE_TABLE_READ_ON = '2025-03';

/**
 * Spot / on-demand of a2-highgpu-1g as read (1.29 / 3.67); the spot figure of a family whose spot
 * price was not read is its on-demand price times this, rounded to cents.
 */
const SPOT_RATIO_READ = 0.35;
const spot = (onDemand: number): MachinePrice => ({ on_demand: onDemand, spot: Math.round(onDemand * SPOT_RATIO_READ * 100) / 100 });

export interface PriceSource {
  /** The GPU behind the family. */
  gpu: string;
  /** When the figures were taken, or the list they are recalled from. */
  as_of: string;
  /** How the figures were obtained. */
  how: string;
  /** True where a figure was not read from the list in this project: check it before trusting a dollar figure. */
  needs_refresh: boolean;
}

/** Keyed by the machine type's family prefix (the name up to its size). */
export const PRICE_SOURCES: Record<string, PriceSource> = {
  'a2-highgpu': {
    gpu: 'A100 40 GB',
    as_of: PRICE_TABLE_READ_ON,
    how: '1g and 2g read from the us-central1 list; 4g and 8g are those prices scaled by GPU count, which is how the list is built',
    needs_refresh: false,
  },
  'a2-ultragpu': {
    gpu: 'A100 80 GB',
    as_of: 'recalled, before 2025-03',
    how: 'on-demand recalled from the us-central1 list, not re-read; spot = on-demand x 0.35 (the a2-highgpu ratio)',
    needs_refresh: true,
  },
  'g2-standard': {
    gpu: 'L4',
    as_of: 'recalled, before 2025-03',
    how: 'on-demand recalled from the us-central1 list, not re-read; spot = on-demand x 0.35 (the a2-highgpu ratio)',
    needs_refresh: true,
  },
  'a3-highgpu': {
    gpu: 'H100 80 GB',
    as_of: 'recalled, before 2025-03',
    how: "on-demand of a3-highgpu-8g recalled from the us-central1 list (before Google's 2025 H100 price changes, likely lower now), smaller shapes scaled by GPU count; spot = on-demand x 0.35",
    needs_refresh: true,
  },
};

export const MACHINE_PRICES: Record<string, MachinePrice> = {
  'a2-highgpu-1g': { on_demand: 3.67, spot: 1.29 },
  'a2-highgpu-2g': { on_demand: 7.35, spot: 2.59 },
  'a2-highgpu-4g': { on_demand: 14.69, spot: 5.18 },
  'a2-highgpu-8g': { on_demand: 29.39, spot: 10.36 },
  'a2-ultragpu-1g': spot(5.07),
  'a2-ultragpu-2g': spot(10.14),
  'a2-ultragpu-4g': spot(20.28),
  'a2-ultragpu-8g': spot(40.55),
  'g2-standard-4': spot(0.71),
  'g2-standard-8': spot(0.85),
  'g2-standard-12': spot(1.0),
  'g2-standard-16': spot(1.15),
  'g2-standard-24': spot(2.0),
  'g2-standard-32': spot(1.73),
  'g2-standard-48': spot(4.0),
  'g2-standard-96': spot(8.0),
  'a3-highgpu-1g': spot(11.03),
  'a3-highgpu-2g': spot(22.06),
  'a3-highgpu-4g': spot(44.13),
  'a3-highgpu-8g': spot(88.25),
};

/** Where a machine type's built-in price comes from; undefined for a type the table does not know. */
export function priceSource(machineType: string): PriceSource | undefined {
  if (!MACHINE_PRICES[machineType]) return undefined;
  return PRICE_SOURCES[machineType.replace(/-\d+g?$/, '')];
}

export class PriceUnknown extends Error {
  readonly name = 'PriceUnknown';
  constructor(readonly machineType: string) {
    super(`no price for machine type ${machineType}: add it under cost.prices in the config`);
  }
}

/** The on-demand and spot prices of a GCE machine type: the config's override, else the table. */
export function machinePrice(machineType: string, overrides: Record<string, MachinePrice>): MachinePrice {
  const price = overrides[machineType] ?? MACHINE_PRICES[machineType];
  if (!price) throw new PriceUnknown(machineType);
  return price;
}

/** USD per hour for one host; local hosts cost what the config says (default 0). */
export function hourlyRate(host: { provider: string; machine_type?: string; spot?: boolean }, overrides: Record<string, MachinePrice>, localRate: number): number {
  if (host.provider === 'local') return localRate;
  const price = machinePrice(host.machine_type ?? '', overrides);
  return host.spot === false ? price.on_demand : price.spot;
}
