// The engine's file formats without its runtime: what a process that only checks or converts
// files (the gateway validating an upload) needs, without loading onnxruntime.
export { adapterMismatches } from './adapter/lora-adapter.js';
export type { LoraAdapter, LoraFactors } from './adapter/lora-adapter.js';
export { peftScaling, peftTargets, readPeftAdapter, writePeftAdapter } from './adapter/peft-format.js';
export type { PeftAdapterFiles } from './adapter/peft-format.js';
export { readSafetensors, readSafetensorsHeader } from './format/safetensors.js';
export type { TensorEntry } from './format/safetensors.js';
export { memoryShard } from './format/shard-source.js';
export type { ShardSource } from './format/shard-source.js';
export { targetModules, targetModulesOf } from './model/decoder-config.js';
export type { DecoderConfig } from './model/decoder-config.js';
export { decoderConfigFromHf, decoderWeightsFromHf } from './model/hf-checkpoint.js';
// The worker's own check of a checkpoint's shards (headers only), so an upload validates exactly as it will load.
export { shardReader } from './model/weight-file.js';
export { HfTokenizer } from './tokenizer/hf-tokenizer.js';
export { ChatTemplateError } from './tokenizer/chat-template.js';
export type { ChatMessage } from './tokenizer/chat-template.js';
