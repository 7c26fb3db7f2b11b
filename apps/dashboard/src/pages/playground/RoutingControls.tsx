import { gatesOffered, type ModelTarget, type PlaygroundSettings, type RoutingMode } from './completion-request.js';

interface RoutingControlsProps {
  mode: RoutingMode;
  target: ModelTarget;
  settings: PlaygroundSettings;
  /** The base model's adapters the key may use. */
  candidates: string[];
  onChange: (change: Partial<PlaygroundSettings>) => void;
}

/** The inputs the chosen routing mode takes; a composition's own mode takes almost none. */
export function RoutingControls({ mode, target, settings, candidates, onChange }: RoutingControlsProps) {
  const composition = target.kind === 'composition';
  const overAdapters = target.kind === 'base_model' && mode !== 'none';
  if (overAdapters && candidates.length === 0)
    return <p className="muted">No ready adapter on this base model yet: fine-tune one first.</p>;

  const toggleCandidate = (name: string, on: boolean) =>
    onChange({ excluded: on ? settings.excluded.filter((n) => n !== name) : [...settings.excluded, name] });
  const topK = (defaultK: number) => (
    <label>
      Top k
      <input
        type="number"
        min={1}
        max={16}
        step={1}
        placeholder={`default ${defaultK}`}
        value={settings.topK}
        onChange={(e) => onChange({ topK: e.target.value })}
      />
    </label>
  );
  const candidateBoxes = (
    <fieldset className="candidates">
      <legend>Candidates</legend>
      {candidates.map((name) => (
        <label key={name} className="inline">
          <input
            type="checkbox"
            checked={!settings.excluded.includes(name)}
            onChange={(e) => toggleCandidate(name, e.target.checked)}
          />{' '}
          {name}
        </label>
      ))}
    </fieldset>
  );

  return (
    <div className="routing-controls">
      {mode === 'adapter' && target.kind === 'adapter' ? (
        <p className="muted">The adapter alone, at its latest ready version (or the one named name@version).</p>
      ) : null}
      {mode === 'adapter' && target.kind === 'base_model' ? (
        <label>
          Adapter
          <select value={settings.adapter || candidates[0]} onChange={(e) => onChange({ adapter: e.target.value })}>
            {candidates.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </label>
      ) : null}
      {mode === 'mixture' && composition ? (
        <p className="muted">A merged composition runs as one adapter over its own members.</p>
      ) : null}
      {mode === 'mixture' && !composition ? (
        <fieldset className="weights">
          <legend>Mixture weights</legend>
          <span className="muted">y = xW + Σ wⱼ·x·Aⱼ·Bⱼ; a blank weight leaves the adapter out.</span>
          {candidates.map((name) => (
            <label key={name} className="inline">
              Weight of {name}
              <input
                type="number"
                step="any"
                min={-10}
                max={10}
                value={settings.weights[name] ?? ''}
                onChange={(e) => onChange({ weights: { ...settings.weights, [name]: e.target.value } })}
              />
            </label>
          ))}
        </fieldset>
      ) : null}
      {mode === 'token' && composition ? (
        <p className="muted">The composition’s learned gate routes every token over its members.</p>
      ) : null}
      {mode === 'token' && !composition ? (
        <>
          <p className="muted">Arrow: each token goes to the top-k adapters whose SVD prototype it aligns with most.</p>
          {candidateBoxes}
          {topK(2)}
        </>
      ) : null}
      {mode === 'auto' ? (
        <>
          {composition ? (
            <p className="muted">A knowledge base: the prompt is routed to its best partitions by training centroid.</p>
          ) : null}
          {!composition ? (
            <label>
              Router
              <select
                value={settings.router}
                onChange={(e) => onChange({ router: e.target.value as PlaygroundSettings['router'] })}
              >
                <option value="centroid">centroid (per request)</option>
                <option value="arrow">arrow (per token)</option>
              </select>
            </label>
          ) : null}
          {!composition ? candidateBoxes : null}
          {topK(1)}
        </>
      ) : null}
      {gatesOffered(mode) ? (
        <label className="inline">
          <input
            type="checkbox"
            checked={settings.returnGates}
            onChange={(e) => onChange({ returnGates: e.target.checked })}
          />{' '}
          Return per-token gates
        </label>
      ) : null}
    </div>
  );
}
