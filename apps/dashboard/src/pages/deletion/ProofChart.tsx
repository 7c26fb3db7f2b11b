import type { Schemas } from '@tessera/sdk';
import { niceTicks } from '../../components/nice-ticks.js';
import { formatLoss } from '../../format.js';

const WIDTH = 420;
const HEIGHT = 240;
const MARGIN = { top: 12, right: 16, bottom: 30, left: 48 };

/**
 * The deleted text's loss before and after as two bars, over the band never-seen text scores
 * in (mean ± std shaded, min and max dashed): an "after" bar inside the band looks unseen.
 */
export function ProofChart({ proof }: { proof: Schemas['DeletionProof'] }) {
  const heldOut = proof.held_out;
  const top = Math.max(proof.deleted_loss_before, proof.deleted_loss_after, heldOut ? heldOut.max : 0) * 1.15 || 1;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (loss: number) => MARGIN.top + (1 - Math.max(0, loss) / top) * plotHeight;
  const bars = [
    { label: 'Before deletion', loss: proof.deleted_loss_before, className: 'before' },
    { label: 'After retrain', loss: proof.deleted_loss_after, className: 'after' },
  ];
  const barWidth = plotWidth / 5;
  const barX = (i: number) => MARGIN.left + plotWidth * (i === 0 ? 0.2 : 0.6);

  return (
    <figure className="proof-chart">
      <svg
        role="img"
        aria-label={`Loss of the deleted text: ${formatLoss(proof.deleted_loss_before)} before, ${formatLoss(proof.deleted_loss_after)} after${heldOut ? `; unseen text ${formatLoss(heldOut.mean)} ± ${formatLoss(heldOut.std)}` : ''}`}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        width="100%"
      >
        {niceTicks(0, top, 5).map((tick) => (
          <g key={tick} className="tick">
            <line x1={MARGIN.left} x2={MARGIN.left + plotWidth} y1={y(tick)} y2={y(tick)} />
            <text x={MARGIN.left - 6} y={y(tick) + 4} textAnchor="end">
              {tick}
            </text>
          </g>
        ))}
        {heldOut ? (
          <g className="unseen-band" data-testid="unseen-band">
            <rect
              x={MARGIN.left}
              width={plotWidth}
              y={y(heldOut.mean + heldOut.std)}
              height={Math.max(1, y(heldOut.mean - heldOut.std) - y(heldOut.mean + heldOut.std))}
            />
            <line
              className="mean"
              x1={MARGIN.left}
              x2={MARGIN.left + plotWidth}
              y1={y(heldOut.mean)}
              y2={y(heldOut.mean)}
            />
            <line
              className="range"
              x1={MARGIN.left}
              x2={MARGIN.left + plotWidth}
              y1={y(heldOut.min)}
              y2={y(heldOut.min)}
            />
            <line
              className="range"
              x1={MARGIN.left}
              x2={MARGIN.left + plotWidth}
              y1={y(heldOut.max)}
              y2={y(heldOut.max)}
            />
          </g>
        ) : null}
        {bars.map((bar, i) => (
          <g key={bar.label} className={`bar ${bar.className}`}>
            <rect x={barX(i)} width={barWidth} y={y(bar.loss)} height={MARGIN.top + plotHeight - y(bar.loss)}>
              <title>{`${bar.label}: ${formatLoss(bar.loss)} nats/token`}</title>
            </rect>
            <text x={barX(i) + barWidth / 2} y={y(bar.loss) - 4} textAnchor="middle">
              {formatLoss(bar.loss)}
            </text>
            <text x={barX(i) + barWidth / 2} y={HEIGHT - 10} textAnchor="middle">
              {bar.label}
            </text>
          </g>
        ))}
        <line
          className="baseline"
          x1={MARGIN.left}
          x2={MARGIN.left + plotWidth}
          y1={MARGIN.top + plotHeight}
          y2={MARGIN.top + plotHeight}
        />
      </svg>
      <figcaption className="muted">
        Mean loss per token (nats).{heldOut ? ' Shaded: unseen text, mean ± std; dashed: its min and max.' : ''}
      </figcaption>
    </figure>
  );
}
