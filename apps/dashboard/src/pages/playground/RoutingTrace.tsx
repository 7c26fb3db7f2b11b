import type { Schemas } from '@tessera/sdk';
import './RoutingTrace.css';

const ROUTER_WORDS: Record<Schemas['RoutingTrace']['router'], string> = {
  fixed: 'weights as given',
  centroid: 'picked by similarity to each adapter’s training centroid',
  arrow: 'per token, by each adapter’s SVD prototype (Arrow); weights are mean gates',
  learned_gate: 'per token, by the composition’s learned gate; weights are mean gates',
  merged: 'one merged adapter (weight space)',
};

/** Which adapters a request used and how much each weighed, as bars. */
export function RoutingTrace({ trace }: { trace: Schemas['RoutingTrace'] }) {
  // Mixture weights may pass 1 or go negative: bars are scaled to the largest magnitude.
  const scale = Math.max(1, ...trace.adapters.map((a) => Math.abs(a.weight)));
  return (
    <section className="routing-trace card" aria-label="Routing trace">
      <h2>Routing</h2>
      <div className="muted">
        mode <strong>{trace.mode}</strong> · router <strong>{trace.router}</strong> — {ROUTER_WORDS[trace.router]}
        {trace.composition
          ? ` · composition ${trace.composition.name}@${trace.composition.version} (${trace.composition.method})`
          : ''}
      </div>
      {trace.adapters.length === 0 ? (
        <p className="muted">No adapter: the base model alone.</p>
      ) : (
        <ul>
          {trace.adapters.map((adapter) => (
            <li key={adapter.name} aria-label={`${adapter.name} weight ${adapter.weight.toFixed(3)}`}>
              <span>
                {adapter.name}
                <span className="muted">@{adapter.version}</span>
              </span>
              <span
                className="weight-bar"
                title={adapter.score !== undefined ? `cosine to centroid ${adapter.score.toFixed(3)}` : undefined}
              >
                <span
                  className={`weight-bar-fill${adapter.weight < 0 ? ' negative' : ''}`}
                  style={{ display: 'block', width: `${(Math.abs(adapter.weight) / scale) * 100}%` }}
                />
              </span>
              <span className="weight-value">{adapter.weight.toFixed(3)}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
