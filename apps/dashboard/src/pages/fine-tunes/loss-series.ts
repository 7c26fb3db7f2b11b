import type { Schemas } from '@tessera/sdk';
import type { LineSeries } from '../../components/LineChart.js';

const numberAt = (data: Record<string, unknown> | null, key: string): number | undefined => {
  const value = data?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
};

/**
 * Train and validation loss by step, from the worker's metric events (data: step, loss,
 * validation_loss, …), and once known the base model's validation loss as a level line to beat.
 */
export function lossSeries(
  events: ReadonlyArray<Schemas['JobEvent']>,
  baseValidationLoss?: number | null,
): LineSeries[] {
  const train: Array<{ x: number; y: number }> = [];
  const validation: Array<{ x: number; y: number }> = [];
  for (const event of events) {
    if (event.type !== 'metric') continue;
    const step = numberAt(event.data, 'step');
    if (step === undefined) continue;
    const loss = numberAt(event.data, 'loss');
    const validationLoss = numberAt(event.data, 'validation_loss');
    if (loss !== undefined) train.push({ x: step, y: loss });
    if (validationLoss !== undefined) validation.push({ x: step, y: validationLoss });
  }
  const series: LineSeries[] = [
    { name: 'train loss', points: train },
    { name: 'validation loss', points: validation },
  ];
  const steps = [...train, ...validation].map((point) => point.x);
  if (typeof baseValidationLoss === 'number' && steps.length > 0) {
    const level = [Math.min(...steps), Math.max(...steps)].map((x) => ({ x, y: baseValidationLoss }));
    series.push({ name: 'base model validation loss', points: level, dashed: true, color: '#868e96' });
  }
  return series;
}

/** The share of steps done according to the newest metric event, or undefined before the first. */
export function progressFromEvents(events: ReadonlyArray<Schemas['JobEvent']>): number | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const data = events[i]!.type === 'metric' ? events[i]!.data : null;
    const step = numberAt(data, 'step');
    const total = numberAt(data, 'total_steps');
    if (step !== undefined && total) return step / total;
  }
  return undefined;
}
