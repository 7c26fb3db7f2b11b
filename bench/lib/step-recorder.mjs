// What a scheduler's token events say about its steps: which rows each step served, when it
// ended. The serving-speed workloads read decode step times and batch sizes from it.

/**
 * The scheduler's steps as its token events show them: a step emits the tokens of all its
 * rows in one synchronous loop, so the events of one step land before any microtask runs, and
 * a microtask closes the step. Exact, where grouping by time gaps would have to guess.
 * Also the most KV blocks in use at any step, where `scheduler` reports them (stats()).
 * Hand each request `onToken: recorder.onToken(row)`.
 */
export function stepRecorder(scheduler) {
  const steps = [];
  const perRow = new Map();
  let open = null;
  const recorder = {
    steps,
    kvPeak: null,
    onToken: (row) => () => {
      if (!open) {
        open = { at: performance.now(), rows: [] };
        steps.push(open);
        queueMicrotask(() => (open = null));
        const kv = typeof scheduler.stats === 'function' ? scheduler.stats().kv : null;
        if (kv && (!recorder.kvPeak || kv.blocksUsed > recorder.kvPeak.blocksUsed)) recorder.kvPeak = kv;
      }
      open.rows.push(row);
      perRow.set(row, (perRow.get(row) ?? 0) + 1);
    },
    tokensOf: (row) => perRow.get(row) ?? 0,
    /** The steps, checked to be `tokens` steps each of which every one of `rows` rows emitted in once. */
    checkedSteps(rows, tokens) {
      const short = steps.findIndex((step) => step.rows.length !== rows || new Set(step.rows).size !== rows);
      if (steps.length !== tokens || short >= 0)
        throw new Error(
          `${rows} rows × ${tokens} tokens came in ${steps.length} steps of ${steps.map((s) => s.rows.length).join(', ')} rows: not one batch of ${rows}`,
        );
      return steps;
    },
  };
  return recorder;
}

/** Seconds between successive steps: each a decode step (the first step is the prefill). */
export function stepGaps(steps) {
  return steps.slice(1).map((step, j) => (step.at - steps[j].at) / 1000);
}
