import type { WorkerRecord } from '@tessera/queue';
import { Gauge, type Registry } from 'prom-client';

/**
 * The live workers as gauges, rebuilt from their Redis records at each scrape: a worker that
 * stopped announcing drops out. `tessera_worker_info` is 1 per worker, its labels saying
 * which execution provider it asked for and got and on what device.
 */
export class WorkerGauges {
  private readonly info: Gauge<'worker' | 'provider' | 'requested_provider' | 'device'>;
  private readonly memory: Gauge<'worker'>;
  private readonly rss: Gauge<'worker'>;
  private readonly loopDelay: Gauge<'worker' | 'stat'>;

  constructor(registry: Registry) {
    this.info = new Gauge({
      name: 'tessera_worker_info',
      help: 'A live worker: the execution provider it asked for, the one its sessions got, and its device',
      labelNames: ['worker', 'provider', 'requested_provider', 'device'],
      registers: [registry],
    });
    this.memory = new Gauge({
      name: 'tessera_worker_device_memory_bytes',
      help: "Memory of a live worker's compute device (the GPU's, or the host's on CPU)",
      labelNames: ['worker'],
      registers: [registry],
    });
    this.rss = new Gauge({
      name: 'tessera_worker_resident_memory_bytes',
      help: "A live worker process's resident memory at its last heartbeat",
      labelNames: ['worker'],
      registers: [registry],
    });
    this.loopDelay = new Gauge({
      name: 'tessera_worker_event_loop_delay_seconds',
      help: "A live worker's event-loop delay over the heartbeat interval before its last (stat: mean, p99)",
      labelNames: ['worker', 'stat'],
      registers: [registry],
    });
  }

  show(workers: readonly WorkerRecord[]): void {
    for (const gauge of [this.info, this.memory, this.rss, this.loopDelay]) gauge.reset();
    for (const { worker, provider, device, vitals } of workers) {
      if (vitals) {
        this.rss.set({ worker }, vitals.rssBytes);
        this.loopDelay.set({ worker, stat: 'mean' }, vitals.eventLoopDelayMs.mean / 1000);
        this.loopDelay.set({ worker, stat: 'p99' }, vitals.eventLoopDelayMs.p99 / 1000);
      }
      this.info.set(
        { worker, provider: provider.active, requested_provider: provider.requested, device: device.name },
        1,
      );
      if (device.memoryBytes !== null) this.memory.set({ worker }, device.memoryBytes);
    }
  }
}
