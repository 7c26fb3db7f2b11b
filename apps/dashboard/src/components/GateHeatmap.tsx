import { gateColour } from './gate-colour.js';
import './GateHeatmap.css';

export interface GateHeatmapProps {
  /** Each token the model read, in order (the prompt, then the completion). */
  tokens: string[];
  /** Adapter names, one per gate column, in the routing trace's order. */
  adapters: string[];
  /** gates[t][j]: the gate of adapter j at token t, in [0, 1]. */
  gates: number[][];
  /** How many of `tokens` are the prompt: a line marks where the completion starts. */
  promptTokens?: number;
}

/** Whitespace made visible: a byte-level token is often a lone space or newline. */
const visibleToken = (token: string) => token.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥');

/**
 * Per-token gates as a grid: one column per token, one row per adapter, darker = larger
 * gate. Every cell carries its exact value in a tooltip and for screen readers.
 */
export function GateHeatmap({ tokens, adapters, gates, promptTokens }: GateHeatmapProps) {
  const isCompletion = (t: number) => promptTokens !== undefined && t >= promptTokens;
  return (
    <figure className="gate-heatmap" data-testid="gate-heatmap">
      <figcaption>
        <strong>Per-token gates</strong>{' '}
        <span className="muted">
          {tokens.length} tokens × {adapters.length} adapters
          {promptTokens !== undefined ? '; the completion’s tokens are blue' : ''}
        </span>
      </figcaption>
      <div className="gate-heatmap-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">
                <span className="muted">adapter \ token</span>
              </th>
              {tokens.map((token, t) => (
                <th
                  key={t}
                  scope="col"
                  title={`token ${t}: ${JSON.stringify(token)}`}
                  className={isCompletion(t) ? 'completion-token' : undefined}
                >
                  {visibleToken(token)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {adapters.map((adapter, j) => (
              <tr key={adapter}>
                <th scope="row">{adapter}</th>
                {tokens.map((token, t) => {
                  const gate = gates[t]?.[j] ?? 0;
                  const label = `${JSON.stringify(token)} → ${adapter}: ${gate.toFixed(3)}`;
                  return (
                    <td
                      key={t}
                      className={promptTokens !== undefined && t === promptTokens - 1 ? 'prompt-end' : undefined}
                      style={{ backgroundColor: gateColour(gate) }}
                      title={label}
                      aria-label={label}
                      data-gate={gate}
                    />
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="gate-legend" aria-label="Gate colour scale from 0 to 1">
        <span>gate 0</span>
        <span
          className="gate-legend-bar"
          style={{ background: `linear-gradient(to right, ${gateColour(0)}, ${gateColour(0.5)}, ${gateColour(1)})` }}
        />
        <span>1</span>
      </div>
    </figure>
  );
}
