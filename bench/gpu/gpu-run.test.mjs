// The GPU run's script, checked end to end where there is no GPU: the quick run asks for
// WebGPU, falls back to CPU with the reason recorded, and writes every figure issue 20 names.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

test('the GPU run writes its figures, and says which provider it ran on and why', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-gpu-run-'));
  try {
    const out = path.join(dir, 'gpu.json');
    await promisify(execFile)(process.execPath, [path.join(import.meta.dirname, 'gpu-run.mjs')], {
      env: { ...process.env, GPU_PROVIDER: 'webgpu', GPU_QUICK: '1', GPU_OUT: out, GPU_THREADS: '1' },
    });
    const figures = JSON.parse(await readFile(out, 'utf8'));
    assert.equal(figures.requested_provider, 'webgpu');
    assert.ok(['webgpu', 'cpu'].includes(figures.provider));
    assert.equal(figures.fallback !== undefined, figures.provider === 'cpu');
    assert.ok(figures.device.length > 0);
    assert.ok(figures.correctness.maxRelativeError <= 1e-3 && figures.max_abs_error_fp32 >= 0);
    for (const concurrency of [1, 4, 8]) {
      assert.ok(figures.decode_tokens_per_s[concurrency] > 0);
      assert.ok(figures.base_decode_tokens_per_s[concurrency] > 0);
      assert.ok(figures.itl_ms[concurrency] > 0);
    }
    assert.ok(figures.lora_over_base_4 > 0 && figures.lora_over_base_8 > 0 && figures.hetero_speedup_4 > 0);
    assert.ok(figures.training.step_seconds > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
