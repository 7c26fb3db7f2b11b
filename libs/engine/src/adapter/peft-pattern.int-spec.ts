// PEFT's reading of an exported pattern, checked by Python's own regular expressions: an
// integration test (it runs python3, which these machines have; PEFT itself needs torch).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { GPT2_TARGET_MODULES, LLAMA_TARGET_MODULES } from '../model/decoder-config.js';
import { peftTargets } from './peft-format.js';

/**
 * Every module path of a Hugging Face model of this shape as PEFT walks it (`named_modules()`:
 * containers as well as leaves), so a pattern that matches too much is caught too.
 */
function hfModulePaths(architecture: 'gpt2' | 'llama', layers: number): string[] {
  const [root, stack, modules, others] =
    architecture === 'gpt2'
      ? ['transformer', 'h', GPT2_TARGET_MODULES, ['ln_1', 'ln_2', 'attn', 'mlp']]
      : ['model', 'layers', LLAMA_TARGET_MODULES, ['input_layernorm', 'post_attention_layernorm', 'self_attn', 'mlp']];
  const paths = [root, `${root}.${stack}`, 'lm_head', `${root}.${architecture === 'gpt2' ? 'wte' : 'embed_tokens'}`];
  for (let layer = 0; layer < layers; layer++) {
    paths.push(`${root}.${stack}.${layer}`);
    for (const other of others) paths.push(`${root}.${stack}.${layer}.${other}`);
    for (const module of modules) paths.push(`${root}.${stack}.${layer}.${module}`);
  }
  return paths;
}

describe("PEFT's reading of a per-layer placement", () => {
  it("target_modules as a pattern: Python's re.fullmatch (what PEFT applies to a string) selects exactly the adapted projections", () => {
    const layers = 12; // two-digit layers: h.1 must not match h.11
    const placements = {
      gpt2: ['h.0.attn.c_attn', 'h.1.mlp.c_proj', 'h.11.attn.c_proj', 'h.10.mlp.c_fc'],
      llama: ['layers.1.self_attn.q_proj', 'layers.11.mlp.down_proj', 'layers.2.self_attn.o_proj'],
    };
    for (const [architecture, keys] of Object.entries(placements) as ['gpt2' | 'llama', string[]][]) {
      const { target_modules: pattern } = peftTargets(keys);
      assert.equal(typeof pattern, 'string', 'a placement that is no modules × layers product is a pattern');
      const paths = hfModulePaths(architecture, layers);
      const matched = JSON.parse(
        execFileSync(
          'python3',
          [
            '-c',
            'import json, re, sys\nq = json.load(sys.stdin)\nprint(json.dumps([p for p in q["paths"] if re.fullmatch(q["pattern"], p)]))',
          ],
          { input: JSON.stringify({ pattern, paths }), encoding: 'utf8' },
        ),
      ) as string[];
      const root = architecture === 'gpt2' ? 'transformer' : 'model';
      assert.deepEqual(matched.sort(), keys.map((key) => `${root}.${key}`).sort(), architecture);
    }
  });
});
