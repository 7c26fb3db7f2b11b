import { PlacementProber, type ProberOptions, type TrainingModel } from '@tessera/engine';

/**
 * How long a base model's probe session stays started after its last probe, on CPU. Starting it
 * costs more than a short fine-tune's probe passes; holding it keeps a second training session's
 * buffers resident, so a model no longer probed gives them back. On a GPU the session holds
 * device memory (its own copy of the weights) beside the fine-tune it placed: released at once.
 */
const PROBE_SESSION_IDLE_MS = 10 * 60_000;

/** The worker's placement probers, one per base model (target_modules "auto"). */
export class PlacementProbers {
  private readonly probers = new WeakMap<TrainingModel, PlacementProber>();

  constructor(private readonly options: Omit<ProberOptions, 'idleMs'>) {}

  of(model: TrainingModel): PlacementProber {
    let prober = this.probers.get(model);
    if (!prober) {
      const onCpu = (this.options.executionProvider ?? 'cpu') === 'cpu';
      prober = new PlacementProber(model, { ...this.options, idleMs: onCpu ? PROBE_SESSION_IDLE_MS : 0 });
      this.probers.set(model, prober);
    }
    return prober;
  }
}
