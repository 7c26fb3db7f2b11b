import type { Schemas } from '@tessera/sdk';
import { formatLoss, formatNumber } from '../../format.js';
import { Link } from '../../router.js';
import { useAdapterNames } from '../../use-adapter-names.js';
import { ProofChart } from './ProofChart.js';

function verdict(proof: Schemas['DeletionProof']): string {
  return `${proof.verdict === 'looks_unseen' ? 'Looks unseen' : 'Inconclusive'}: ${proof.verdict_reason}.`;
}

function zText(z: number | null): string {
  return z === null ? 'n/a' : `${z >= 0 ? '+' : ''}${formatNumber(z, 1)}σ`;
}

/** What the audit found: the deleted text's loss before and after, against never-seen text. */
export function DeletionProof({ proof }: { proof: Schemas['DeletionProof'] }) {
  const heldOut = proof.held_out;
  const adapterName = useAdapterNames();
  return (
    <section className="card deletion-proof" data-testid="deletion-proof" aria-labelledby="proof-heading">
      <h2 id="proof-heading">Proof</h2>
      <p
        className={`verdict ${proof.verdict === 'looks_unseen' ? 'good' : ''}`}
        data-testid="looks-unseen"
        data-looks-unseen={String(proof.looks_unseen)}
      >
        {verdict(proof)}
      </p>
      <div className="proof-body">
        <table aria-label="Loss figures">
          <tbody>
            <tr>
              <th scope="row">Deleted text, before</th>
              <td data-testid="loss-before">{formatLoss(proof.deleted_loss_before)}</td>
            </tr>
            <tr>
              <th scope="row">Deleted text, after</th>
              <td data-testid="loss-after">{formatLoss(proof.deleted_loss_after)}</td>
            </tr>
            {heldOut ? (
              <>
                <tr>
                  <th scope="row">Unseen text, mean ± std</th>
                  <td data-testid="unseen-mean">
                    {formatLoss(heldOut.mean)} ± {formatLoss(heldOut.std)}
                  </td>
                </tr>
                <tr>
                  <th scope="row">Unseen text, min</th>
                  <td data-testid="unseen-min">{formatLoss(heldOut.min)}</td>
                </tr>
                <tr>
                  <th scope="row">Unseen text, max</th>
                  <td data-testid="unseen-max">{formatLoss(heldOut.max)}</td>
                </tr>
                <tr>
                  <th scope="row">Unseen documents</th>
                  <td>{formatNumber(heldOut.count)}</td>
                </tr>
                {proof.statistic ? (
                  <>
                    <tr>
                      <th scope="row">Trained-like below</th>
                      <td data-testid="unseen-line">
                        {formatLoss(proof.statistic.unseen_line)} (mean − {formatLoss(proof.statistic.margin)})
                      </td>
                    </tr>
                    <tr>
                      <th scope="row">z before → after</th>
                      <td data-testid="z-scores">
                        {zText(proof.statistic.z_before)} → {zText(proof.statistic.z_after)}
                      </td>
                    </tr>
                  </>
                ) : null}
              </>
            ) : (
              <tr>
                <th scope="row">Unseen text</th>
                <td>none to compare with</td>
              </tr>
            )}
            <tr>
              <th scope="row">Workers cleared</th>
              <td data-testid="caches-evicted">
                {proof.caches_evicted.acknowledged} of {proof.caches_evicted.workers}
                {proof.caches_evicted.timed_out ? ' (some did not answer in time)' : ''}
              </td>
            </tr>
          </tbody>
        </table>
        <ProofChart proof={proof} />
      </div>
      {proof.retrained_versions.length > 0 ? (
        <table aria-label="Retrained versions">
          <thead>
            <tr>
              <th scope="col">Adapter</th>
              <th scope="col">Stale version</th>
              <th scope="col">Retrained version</th>
              <th scope="col">Retrain time</th>
            </tr>
          </thead>
          <tbody>
            {proof.retrained_versions.map((retrained) => (
              <tr key={`${retrained.adapter_id}@${retrained.old_version}`}>
                <td>
                  <Link to={`/adapters/${retrained.adapter_id}`}>{adapterName(retrained.adapter_id)}</Link>
                </td>
                <td>v{retrained.old_version}</td>
                <td>{retrained.new_version === null ? 'none (no documents left)' : `v${retrained.new_version}`}</td>
                <td>{formatNumber(retrained.seconds, 1)} s</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
