import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { importHfCheckpoint } from '../model/hf-checkpoint.js';
import { DecoderSession } from '../model/decoder-session.js';
import { DOMAINS, domainTexts } from '../testing/synthetic-domains.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { poolingCentroid } from '../training/trainer.js';
import { BatchScheduler } from './batch-scheduler.js';
import { cosine, routeByCentroid } from './centroid-router.js';
import { SlotPool } from './slot-pool.js';

const DEMO_DIR = fileURLToPath(new URL('../../../../models/tessera-demo', import.meta.url));

describe('centroid routing (auto, request level)', () => {
  it('ranks by cosine similarity and shares the top k by a softmax with the given temperature', () => {
    const keys = [
      { id: 'east', centroid: Float32Array.of(1, 0) },
      { id: 'north', centroid: Float32Array.of(0, 2) },
      { id: 'north-east', centroid: Float32Array.of(1, 1) },
    ];
    const input = Float32Array.of(3, 1);
    const routed = routeByCentroid(input, keys, { topK: 2, temperature: 0.1 });
    assert.deepEqual(
      routed.map((r) => r.id),
      ['east', 'north-east'],
    );
    const [east, ne] = [3 / Math.sqrt(10), 4 / Math.sqrt(20)];
    assert.ok(Math.abs(routed[0]!.score - east) < 1e-12 && Math.abs(routed[1]!.score - ne) < 1e-12);
    const expected = 1 / (1 + Math.exp((ne - east) / 0.1));
    assert.ok(Math.abs(routed[0]!.weight - expected) < 1e-12, `${routed[0]!.weight} vs ${expected}`);
    assert.equal(routeByCentroid(input, keys).length, 1);
    assert.equal(routeByCentroid(input, keys)[0]!.weight, 1);
    assert.deepEqual(routeByCentroid(input, [], { topK: 3 }), []);
    assert.throws(() => routeByCentroid(Float32Array.of(1, 2, 3), keys), /centroid has 2 values/);
  });

  it('picks the adapter of the right domain for ≥ 90% of held-out inputs (demo model, 6 synthetic domains)', async (t) => {
    const { config, weights } = await importHfCheckpoint(DEMO_DIR);
    const tokenizer = new ByteTokenizer();
    const model = { name: 'tessera-demo', config, weights, tokenizer };
    // Each adapter's routing key, as training computes it over its training data.
    const keys = await Promise.all(
      DOMAINS.map(async (domain) => ({
        id: domain,
        centroid: await poolingCentroid(
          model,
          domainTexts(domain, 40, 1).map((text) => ({ tokens: tokenizer.encode(text), counted: [] })),
          128,
          { threads: 1 },
        ),
      })),
    );
    const session = await DecoderSession.load(config, weights, {
      threads: 1,
      lora: { modules: ['attn.c_attn'], rank: 4 },
    });
    const scheduler = new BatchScheduler(
      session,
      new SlotPool(config, { slots: 2, rank: 4, modules: ['attn.c_attn'] }),
      tokenizer,
      { maxBatch: 1, prefillChunk: 64, maxBatchTokens: 64 },
    );
    const accuracy = async (fraction: number) => {
      let right = 0;
      let total = 0;
      for (const domain of DOMAINS) {
        // Held out: another seed than the centroids'.
        for (const text of domainTexts(domain, 20, 99)) {
          const pooled = await scheduler.pooledHidden(
            tokenizer.encode(text.slice(0, Math.ceil(text.length * fraction))),
          );
          if (routeByCentroid(pooled, keys)[0]!.id === domain) right++;
          total++;
        }
      }
      t.diagnostic(
        `centroid routing top-1 accuracy on ${fraction === 1 ? 'whole' : 'the first half of'} held-out sentences: ${((right / total) * 100).toFixed(1)}% of ${total} over ${DOMAINS.length} domains`,
      );
      return right / total;
    };
    const whole = await accuracy(1);
    assert.ok(whole >= 0.9, `accuracy ${whole}`);
    // Half a sentence says less (travel and weather both open "the … from/over <city>"): reported, and still far above chance (1/6).
    assert.ok((await accuracy(0.5)) >= 0.5);
    // The scheduler's pooled state is the base model's, as the centroids are.
    const base = await DecoderSession.load(config, weights, { threads: 1 });
    const ids = tokenizer.encode('mix 2 cups of flour');
    const plain = (
      await base.forward({ ids: [ids], positions: [ids.map((_, i) => i)], attentionMask: [ids.map(() => 1)] })
    ).pooledHidden;
    assert.ok(cosine(plain, await scheduler.pooledHidden(ids)) > 0.999999);
  });
});
