import type { BlobSweepResult } from '@tessera/queue';
import { Gauge, type Registry } from 'prom-client';

/** Each gauge's name and help, by the field of the sweep result it shows. */
const GAUGES: Record<keyof BlobSweepResult, [name: string, help: string]> = {
  finishedAt: ['tessera_blob_sweep_last_run_timestamp_seconds', 'When the last blob sweep ended, in Unix seconds'],
  leftoversFound: ['tessera_blob_sweep_leftovers_found', 'Staged uploads past the grace period the last sweep found'],
  leftoversRemoved: ['tessera_blob_sweep_leftovers_removed', 'Staged uploads the last sweep removed'],
  unreferencedFound: [
    'tessera_blob_sweep_unreferenced_found',
    'Blobs past the grace period that no row refers to, found by the last sweep',
  ],
  unreferencedRemoved: ['tessera_blob_sweep_unreferenced_removed', 'Unreferenced blobs the last sweep removed'],
  bytesReclaimed: ['tessera_blob_sweep_reclaimed_bytes', 'Bytes of leftovers and blobs the last sweep removed'],
  failedTenants: ['tessera_blob_sweep_failed_tenants', 'Tenants whose sweep failed in the last pass'],
};

const FIELDS = Object.keys(GAUGES) as (keyof BlobSweepResult)[];

/**
 * The worker's last blob sweep as gauges. The sweep runs in a worker and is recorded in Redis
 * (libs/queue's blob-sweep record); /metrics reads it at each scrape. The gauges are absent
 * until a sweep has been read, so "never ran" does not show as zeros.
 */
export class BlobSweepGauges {
  private gauges?: { field: keyof BlobSweepResult; gauge: Gauge }[];

  constructor(private readonly registry: Registry) {}

  show(result: BlobSweepResult): void {
    this.gauges ??= FIELDS.map((field) => {
      const [name, help] = GAUGES[field];
      return { field, gauge: new Gauge({ name, help, registers: [this.registry] }) };
    });
    for (const { field, gauge } of this.gauges) {
      const value = result[field];
      gauge.set(value instanceof Date ? value.getTime() / 1000 : value);
    }
  }
}
