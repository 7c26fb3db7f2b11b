import { PlacementProber, type ProberOptions, type TrainingModel } from '@tessera/engine';

/**
 * How long a base model's probe session stays started after its last probe. Starting it costs
 * more than a short fine-tune's probe passes; holding it keeps a second training session's
 * buffers resident, so a model no longer probed gives them back.
 */
const PROBE_SESSION_IDLE_MS = 10 * 60_000;

/** The worker's placement probers, one per base model (target_modules "auto"). */
export class PlacementProbers {
  private readonly probers = new WeakMap<TrainingModel, PlacementProber>();

  constructor(private readonly options: Omit<ProberOptions, 'idleMs'>) {}

  of(model: TrainingModel): PlacementProber {
    let prober = this.probers.get(model);
    if (!prober) {
      prober = new PlacementProber(model, { ...this.options, idleMs: PROBE_SESSION_IDLE_MS });
      this.probers.set(model, prober);
    }
    return prober;
  }
}
