export { GraphBuilder, OPSET } from './graph/graph-builder.js';
export type { DType, Dim, Tensor } from './graph/graph-builder.js';
export { loraProjection } from './graph/lora-projection.js';
export type { LoraPoolInputs, LoraRouting } from './graph/lora-projection.js';
export { createSession, float32Tensor, int64Tensor, ort, probeExecutionProvider } from './graph/onnx-session.js';
export type { SessionOptions } from './graph/onnx-session.js';
export { computeDevice, EXECUTION_PROVIDERS } from './graph/execution-provider.js';
export type { ComputeDevice, ExecutionProvider, ProviderStatus } from './graph/execution-provider.js';
export {
  configProblems,
  ffnDim,
  GPT2_TARGET_MODULES,
  headDim,
  kvHeads,
  layerPrefix,
  LLAMA_TARGET_MODULES,
  projectionKey,
  projectionKeys,
  projectionShape,
  targetModules,
  weightShapes,
} from './model/decoder-config.js';
export type {
  DecoderConfig,
  DecoderDType,
  DecoderWeights,
  Gpt2Config,
  Gpt2TargetModule,
  LlamaConfig,
  LlamaTargetModule,
  TargetModule,
} from './model/decoder-config.js';
export { buildForwardGraph, cacheName, loraInputName, longRangeInputName } from './model/decoder.js';
export type { BaseWeights, ForwardGraphOptions, LoraGraphOptions, LongRangePair } from './model/decoder.js';
export {
  readerOf,
  shardReader,
  WEIGHT_PRECISIONS,
  WeightFile,
  weightFileBytes,
  writeWeightFile,
} from './model/weight-file.js';
export type { WeightFileIndex, WeightPrecision, WeightReader } from './model/weight-file.js';
export { dequantize, quantizeColumns } from './model/quantize.js';
export type { QuantizedMatrix } from './model/quantize.js';
export { DecoderSession } from './model/decoder-session.js';
export type { ForwardInput, ForwardOutput, NewKv } from './model/decoder-session.js';
export {
  decoderConfigFromHf,
  decoderWeightsFromHf,
  importHfCheckpoint,
  readHfCheckpointFolder,
  writeHfCheckpoint,
} from './model/hf-checkpoint.js';
export type { Checkpoint, HfCheckpointFolder } from './model/hf-checkpoint.js';
export { transpose } from './matrix.js';
export { referenceForward, referencePooled, referenceTokenLogprobs } from './reference/reference-decoder.js';
export type { ReferenceLora, ReferenceOutput } from './reference/reference-decoder.js';
export { loraDelta } from './reference/reference-lora.js';
export type { LoraPool } from './reference/reference-lora.js';
export {
  readSafetensors,
  readSafetensorsHeader,
  readTensorAsFloat32,
  toFloat32,
  writeSafetensors,
} from './format/safetensors.js';
export type { NamedTensor, TensorEntry } from './format/safetensors.js';
export { fileShard, memoryShard } from './format/shard-source.js';
export type { ShardSource } from './format/shard-source.js';
export { adapterMismatches } from './adapter/lora-adapter.js';
export type { LoraAdapter, LoraFactors } from './adapter/lora-adapter.js';
export { peftScaling, readPeftAdapter, writePeftAdapter } from './adapter/peft-format.js';
export type { PeftAdapterFiles } from './adapter/peft-format.js';
export { slotFactors } from './adapter/slot-factors.js';
export { adapterPrototype, arrowPrototype } from './adapter/arrow-prototype.js';
export { readCompositionArtifact, writeCompositionArtifact } from './adapter/composition-artifact.js';
export { deltaWeight, mergeAdapters, mergeProblems } from './adapter/lora-merge.js';
export type { MergeMethod, MergeOptions } from './adapter/lora-merge.js';
export type { CompositionArtifact } from './adapter/composition-artifact.js';
export { ByteTokenizer } from './tokenizer/byte-tokenizer.js';
export { HfTokenizer } from './tokenizer/hf-tokenizer.js';
export type { HfTokenizerFiles } from './tokenizer/hf-tokenizer.js';
export {
  ChatTemplate,
  ChatTemplateError,
  DEFAULT_CHAT_TEMPLATE,
  DEFAULT_CHAT_TEMPLATE_LIMITS,
} from './tokenizer/chat-template.js';
export type { ChatMessage, ChatTemplateFailure, ChatTemplateLimits } from './tokenizer/chat-template.js';
export type { Tokenizer } from './tokenizer/tokenizer.js';
export { ANY_OBJECT, UnsupportedSchemaError, compileJsonSchema, shortestLength } from './structured/json-grammar.js';
export type { JsonGrammar } from './structured/json-grammar.js';
export { JsonConstraint } from './structured/json-constraint.js';
export type { OutputConstraint } from './structured/json-constraint.js';
export { adjustLogits, argmax, sampleToken, tokenLogprob } from './serving/sampling.js';
export type { SamplingParams, TokenLogprob } from './serving/sampling.js';
export { seededRandom } from './seeded-random.js';
export { AdapterCache, adapterBytes } from './serving/adapter-cache.js';
export { SlotPool } from './serving/slot-pool.js';
export type { SlotPoolOptions } from './serving/slot-pool.js';
export { BatchScheduler } from './serving/batch-scheduler.js';
export { KvBlocks } from './serving/kv-blocks.js';
export type { KvBlockOptions } from './serving/kv-blocks.js';
export { PrefixCache, changesKv, prefixNamespace } from './serving/prefix-cache.js';
export { TextStream } from './serving/text-stream.js';
export type {
  FinishReason,
  GenerateRequest,
  GenerateResult,
  RequestAdapter,
  SchedulerOptions,
} from './serving/batch-scheduler.js';
export { cosine, decodeCentroid, encodeCentroid, routeByCentroid } from './serving/centroid-router.js';
export type { CentroidRoutingOptions, RoutedAdapter, RoutingKey } from './serving/centroid-router.js';
export { addGradients } from './graph/autodiff.js';
export { buildTrainingGraph, gradName } from './training/training-graph.js';
export type { TrainableSet, TrainingGraph } from './training/training-graph.js';
export {
  packExamples,
  PACKINGS,
  parseTrainingJsonl,
  recordProblem,
  splitRecords,
  tokenizeRecord,
} from './training/training-data.js';
export type { PackedSequence, Packing, TokenizedExample, TrainingRecord } from './training/training-data.js';
export { AdamW, clipGradients, learningRateAt } from './training/optimizer.js';
export { decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint } from './training/checkpoint.js';
export type { TrainingCheckpoint } from './training/checkpoint.js';
export { evaluate, TrainingCancelled } from './training/training-loop.js';
export {
  defaultPlacementBudget,
  peftDefaultModules,
  PlacementProber,
  probePlacements,
  selectPlacements,
} from './training/placement-probe.js';
export type { PlacementProbe, PlacementScore, ProberOptions, ProbeRequest } from './training/placement-probe.js';
export { effectiveRank, singularValues } from './training/gradient-rank.js';
export { trainLongRange } from './training/long-range.js';
export type { LongRangeTrainResult } from './training/long-range.js';
export type { Evaluation, TrainingProgress } from './training/training-loop.js';
export {
  AdapterEvaluator,
  DEFAULT_HYPERPARAMETERS,
  evaluateAdapter,
  hyperparameterProblems,
  initialWeights,
  poolingCentroid,
  prepareData,
  train,
  trainBase,
  trainGate,
} from './training/trainer.js';
export type {
  BaseTrainOptions,
  GateTrainOptions,
  GateTrainResult,
  Hyperparameters,
  LoraTrainResult,
  TrainingModel,
  TrainMetrics,
  TrainOptions,
} from './training/trainer.js';
// Test helpers, shared with the service's tests.
export { DOMAINS, domainTexts } from './testing/synthetic-domains.js';
export { randomWeights, TINY_LLAMA } from './testing/random.js';
export { bpeTokenizerJson } from './testing/tokenizer-files.js';
export type { Domain } from './testing/synthetic-domains.js';
