import type { DeletionProof } from '@tessera/contracts';

/** Standard deviations of never-seen text below its mean where "scores like trained text" begins. */
export const MARGIN_STD = 2;
/** The margin never shrinks below this (nats/token): a held-out sample of near-equal losses has σ ≈ 0. */
export const MIN_MARGIN_NATS = 0.05;
/** Fewer never-trained documents than this give no usable spread. */
export const MIN_HELD_OUT = 3;

type HeldOut = NonNullable<DeletionProof['held_out']>;

/**
 * The audit's verdict (docs/deletion-proof.md). Never-seen text scores μ ± σ (nats/token); the
 * line is m = μ − max(2σ, 0.05). The deletion looks unseen only when both hold:
 * - before: the deleted text scored below m, i.e. the adapters had learned it (else a rise
 *   after proves nothing: it was never distinguishable from unseen text);
 * - after: it scores at or above m, i.e. like text no adapter trained on.
 * Anything else is `inconclusive`, with the reason in words.
 */
export function deletionVerdict(
  lossBefore: number,
  lossAfter: number,
  heldOut: HeldOut | null,
): Pick<DeletionProof, 'verdict' | 'verdict_reason' | 'looks_unseen' | 'statistic'> {
  if (!heldOut || heldOut.count < MIN_HELD_OUT) {
    return inconclusive(
      `there are ${heldOut?.count ?? 0} documents no adapter trained on to compare with; at least ${MIN_HELD_OUT} are needed`,
      null,
    );
  }
  const margin = Math.max(MARGIN_STD * heldOut.std, MIN_MARGIN_NATS);
  const line = heldOut.mean - margin;
  const statistic = {
    unseen_line: line,
    margin,
    z_before: zScore(lossBefore, heldOut),
    z_after: zScore(lossAfter, heldOut),
  };
  const range = `never-seen text scores ${heldOut.mean.toFixed(3)} ± ${heldOut.std.toFixed(3)} (n ${heldOut.count}), trained-like below ${line.toFixed(3)}`;
  if (lossBefore >= line) {
    return inconclusive(
      `the deleted text scored ${lossBefore.toFixed(3)} before the deletion, not below ${line.toFixed(3)}: it never scored like trained text, so how it scores now proves nothing (${range})`,
      statistic,
    );
  }
  if (lossAfter < line) {
    return inconclusive(
      `the deleted text still scores like trained text after the retrain: ${lossAfter.toFixed(3)}, below ${line.toFixed(3)} (${range})`,
      statistic,
    );
  }
  return {
    verdict: 'looks_unseen',
    looks_unseen: true,
    verdict_reason: `the deleted text scored like trained text before (${lossBefore.toFixed(3)}) and like never-seen text after (${lossAfter.toFixed(3)}); ${range}`,
    statistic,
  };
}

function inconclusive(reason: string, statistic: DeletionProof['statistic']) {
  return { verdict: 'inconclusive' as const, looks_unseen: false, verdict_reason: reason, statistic };
}

function zScore(loss: number, heldOut: HeldOut): number | null {
  return heldOut.std > 0 ? (loss - heldOut.mean) / heldOut.std : null;
}
