import { useRef, useState, type KeyboardEvent } from 'react';
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
 * Per-token gates as a grid: one column per token, one row per adapter, darker = larger gate.
 * Hovering a token, or moving along them with ← and → once the grid has focus, names each
 * adapter's gate at that token, the top one first; every cell also carries its value in a tooltip.
 */
export function GateHeatmap({ tokens, adapters, gates, promptTokens }: GateHeatmapProps) {
  const [selected, setSelected] = useState<number | null>(null);
  const headers = useRef<(HTMLTableCellElement | null)[]>([]);
  const isCompletion = (t: number) => promptTokens !== undefined && t >= promptTokens;
  const ranked = (t: number) =>
    adapters.map((name, j) => ({ name, gate: gates[t]?.[j] ?? 0 })).sort((a, b) => b.gate - a.gate);
  const select = (t: number) => {
    setSelected(t);
    headers.current[t]?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  };
  const onKeyDown = (event: KeyboardEvent) => {
    const step = { ArrowRight: 1, ArrowLeft: -1, End: tokens.length, Home: -tokens.length }[event.key];
    if (step === undefined || tokens.length === 0) return;
    event.preventDefault();
    select(Math.min(tokens.length - 1, Math.max(0, (selected ?? -1) + step)));
  };
  return (
    <figure className="gate-heatmap" data-testid="gate-heatmap">
      <figcaption>
        <strong>Per-token gates</strong>{' '}
        <span className="muted">
          {tokens.length} tokens × {adapters.length} adapters
          {promptTokens !== undefined ? '; the completion’s tokens are bold' : ''}
        </span>
      </figcaption>
      <p className="gate-detail" aria-live="polite" data-testid="gate-detail">
        {selected === null
          ? 'Hover a token, or focus the grid and use ← →, to see its gates.'
          : `${JSON.stringify(tokens[selected])} (token ${selected + 1} of ${tokens.length}): ` +
            ranked(selected)
              .map((a, i) => `${i === 0 ? 'top ' : ''}${a.name} ${a.gate.toFixed(3)}`)
              .join(', ')}
      </p>
      <div
        className="gate-heatmap-scroll"
        tabIndex={0}
        role="region"
        aria-label="Gate grid: ← and → move between tokens"
        onKeyDown={onKeyDown}
      >
        <table>
          <thead>
            <tr>
              <th scope="col">
                <span className="muted">adapter \ token</span>
              </th>
              {tokens.map((token, t) => (
                <th
                  key={t}
                  ref={(cell) => {
                    headers.current[t] = cell;
                  }}
                  scope="col"
                  title={`token ${t + 1}: ${JSON.stringify(token)}, top ${ranked(t)[0]?.name ?? '–'}`}
                  className={[isCompletion(t) ? 'completion-token' : '', t === selected ? 'selected' : '']
                    .join(' ')
                    .trim()}
                  onMouseEnter={() => setSelected(t)}
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
                      className={
                        [
                          promptTokens !== undefined && t === promptTokens - 1 ? 'prompt-end' : '',
                          t === selected ? 'selected' : '',
                        ]
                          .join(' ')
                          .trim() || undefined
                      }
                      style={{ backgroundColor: gateColour(gate) }}
                      title={label}
                      aria-label={label}
                      data-gate={gate}
                      onMouseEnter={() => setSelected(t)}
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
          style={{
            background: `linear-gradient(to right, ${[0, 0.25, 0.5, 0.75, 1].map(gateColour).join(', ')})`,
          }}
        />
        <span>1</span>
      </div>
    </figure>
  );
}
