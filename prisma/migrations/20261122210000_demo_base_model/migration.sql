-- The built-in demo base model (models/tessera-demo, made by `npm run train:base`), offered
-- by the platform to every tenant (tenant_id NULL). Workers resolve `builtin:<name>` to the
-- files under models/<name>.
INSERT INTO base_models (id, tenant_id, name, architecture, config, weights_blob, tokenizer_blob)
VALUES (
  'bm_00000000000000000000000001', NULL, 'tessera-demo', 'gpt2',
  '{"architecture":"gpt2","vocabSize":257,"dModel":192,"nLayers":4,"nHeads":4,"maxPositions":256,"normEps":0.00001,"gelu":"tanh"}',
  'builtin:tessera-demo', NULL
)
ON CONFLICT (id) DO NOTHING;
