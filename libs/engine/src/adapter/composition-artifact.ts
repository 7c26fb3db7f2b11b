import { readSafetensors, writeSafetensors, type NamedTensor } from '../format/safetensors.js';
import type { LoraAdapter } from './lora-adapter.js';
import { readPeftAdapter, writePeftAdapter } from './peft-format.js';

/**
 * What a compose job stores as one blob: a weight-space merge is an adapter in PEFT's
 * safetensors layout (r and α in its header, so the one file is the whole adapter); a
 * learned gate is each member's router vectors, `member.<j>.<projection key>` [dIn].
 */
export type CompositionArtifact =
  { kind: 'merged'; adapter: LoraAdapter } | { kind: 'learned_gate'; routers: Map<string, Float32Array>[] };

export function writeCompositionArtifact(artifact: CompositionArtifact): Uint8Array {
  if (artifact.kind === 'merged') {
    const { adapter } = artifact;
    return writePeftAdapter(adapter, 'tessera', {
      tessera_artifact: 'merged',
      r: String(adapter.rank),
      lora_alpha: String(adapter.alpha),
    }).weights;
  }
  const tensors = new Map<string, NamedTensor>();
  artifact.routers.forEach((routers, j) => {
    for (const [key, vector] of routers)
      tensors.set(`member.${j}.${key}`, { dtype: 'F32', shape: [vector.length], data: vector });
  });
  return writeSafetensors(tensors, { tessera_artifact: 'learned_gate', members: String(artifact.routers.length) });
}

export function readCompositionArtifact(bytes: Uint8Array): CompositionArtifact {
  const { tensors, metadata } = readSafetensors(bytes);
  if (metadata.tessera_artifact === 'merged') {
    return {
      kind: 'merged',
      adapter: readPeftAdapter({
        config: { peft_type: 'LORA', r: Number(metadata.r), lora_alpha: Number(metadata.lora_alpha) },
        weights: bytes,
      }),
    };
  }
  if (metadata.tessera_artifact !== 'learned_gate')
    throw new Error(`not a composition artifact (metadata ${JSON.stringify(metadata)})`);
  const routers = Array.from({ length: Number(metadata.members) }, () => new Map<string, Float32Array>());
  for (const [name, tensor] of tensors) {
    const match = /^member\.(\d+)\.(.+)$/.exec(name);
    if (!match || !routers[Number(match[1])]) throw new Error(`learned gate artifact: unexpected tensor ${name}`);
    routers[Number(match[1])]!.set(match[2]!, tensor.data as Float32Array);
  }
  return { kind: 'learned_gate', routers };
}
