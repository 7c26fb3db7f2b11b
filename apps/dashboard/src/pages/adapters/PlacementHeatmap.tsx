import type { Schemas } from '@tessera/sdk';
import { gateColour } from '../../components/gate-colour.js';

type Placement = Schemas['Placement'];

/**
 * Where target_modules "auto" put a version: one row per layer, one column per projection, each
 * cell with a swatch shaded by the projection's gradient rank (darker: higher, on the scale of this
 * probe), its value, and a mark where the adapter was placed. A table, so the numbers are there for screen readers too.
 */
export function PlacementHeatmap({ version, placement }: { version: number; placement: Placement }) {
  const modules = [...new Set(placement.scores.map((s) => s.module))];
  const layers = [...new Set(placement.scores.map((s) => s.layer))].sort((a, b) => a - b);
  const ranks = placement.scores.map((s) => s.gradient_rank);
  const low = Math.min(...ranks);
  const high = Math.max(...ranks);
  const chosen = new Set(placement.chosen);
  const cell = (layer: number, module: string) =>
    placement.scores.find((s) => s.layer === layer && s.module === module);
  return (
    <figure className="placement" data-testid={`placement-v${version}`}>
      <table aria-label={`Placement of version ${version}: gradient rank per layer and projection`}>
        <thead>
          <tr>
            <th scope="col">Layer</th>
            {modules.map((m) => (
              <th scope="col" key={m}>
                {m}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {layers.map((layer) => (
            <tr key={layer}>
              <th scope="row">{layer}</th>
              {modules.map((module) => {
                const score = cell(layer, module);
                if (!score) return <td key={module}>—</td>;
                const shade = high > low ? (score.gradient_rank - low) / (high - low) : 1;
                const placed = chosen.has(score.projection);
                return (
                  <td key={module} className={placed ? 'placed' : undefined}>
                    {/* The shade beside the number, not under it: text keeps the page's contrast. */}
                    <span className="swatch" style={{ backgroundColor: gateColour(shade) }} aria-hidden="true" />
                    {score.gradient_rank.toFixed(1)}
                    {placed ? <strong> placed</strong> : null}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <figcaption>
        v{version}: {placement.chosen.length} of {placement.scores.length} projections placed by gradient rank,{' '}
        {placement.params.toLocaleString('en')} of {placement.budget_params.toLocaleString('en')} parameters; probed in{' '}
        {placement.probe_seconds.toFixed(1)} s.
      </figcaption>
    </figure>
  );
}
