// The yardstick for decode at batch 1: one fp32 MatMul [1, K]·[K, N] whose 512 MiB weight
// is an external-data file mapped the way model weight files are. At M = 1 every weight byte
// is read once per run and does no other work, so bytes ÷ seconds is the most that weight
// streaming reaches on this machine with onnxruntime, the bound a decode step works against.
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { median, timed } from './engine-common.mjs';
import { fillUniform } from './random-weight-reader.mjs';

const K = 8192;
const N = 16384;
const RUNS = 15;

/**
 * Bytes/s of the MatMul loaded both ways a model session can load it: packed by MLAS at load
 * (a decode session's default) and read in place from the mapped file (shareWeights). The
 * yardstick is the faster of the two. A plain in-memory copy is reported beside, for scale.
 */
export async function memoryBandwidth(engine, { threads, executionProvider, dir }) {
  const weightBytes = K * N * 4;
  const file = path.join(dir, 'weights.bin');
  await mkdir(dir, { recursive: true });
  const handle = await open(file, 'w');
  try {
    const rows = new Float32Array(256 * N);
    for (let row = 0; row < K; row += 256) {
      fillUniform(rows, 77 + row, 0.5);
      await handle.write(new Uint8Array(rows.buffer), 0, rows.byteLength, row * N * 4);
    }
  } finally {
    await handle.close();
  }
  const g = new engine.GraphBuilder('bandwidth');
  const x = g.input('x', 'float32', [1, K]);
  const w = g.externalInitializer('w', 'float32', [K, N], { file: 'weights.bin', offset: 0, length: weightBytes });
  g.output(g.op('MatMul', [x, w], { shape: [1, N] }), 'y');
  const feeds = { x: engine.float32Tensor(fillUniform(new Float32Array(K), 5, 1), [1, K]) };
  const matmul = {};
  try {
    for (const [loading, shareWeights] of [
      ['packed', false],
      ['mapped', true],
    ]) {
      const session = await engine.createSession(g.serialize(), {
        threads,
        executionProvider,
        externalDataDir: dir,
        shareWeights,
      });
      for (let i = 0; i < 3; i++) await session.run(feeds);
      const seconds = [];
      for (let i = 0; i < RUNS; i++) seconds.push((await timed(() => session.run(feeds))).seconds);
      await session.release();
      matmul[loading] = weightBytes / median(seconds);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    bytesPerSecond: Math.max(matmul.packed, matmul.mapped),
    matmul: { k: K, n: N, weightBytes, threads, bytesPerSecond: matmul },
    copyBytesPerSecond: copyBandwidth(weightBytes),
  };
}

/** Bytes/s of one thread copying a buffer far larger than the caches (each byte read once and written once). */
function copyBandwidth(bytes) {
  const source = Buffer.alloc(bytes, 1);
  const target = Buffer.alloc(bytes);
  source.copy(target);
  const seconds = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    source.copy(target);
    seconds.push((performance.now() - started) / 1000);
  }
  return bytes / median(seconds);
}
