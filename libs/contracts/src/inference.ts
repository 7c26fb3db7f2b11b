import { z } from 'zod';

/**
 * The OpenAI-compatible inference API (completions, chat completions, models) plus Tessera's
 * `routing` object. Unknown fields are refused by name, as OpenAI's own API refuses an
 * unrecognized argument: a field dropped in silence could be one that changes the answer
 * (a sampling or format setting). `user` and `parallel_tool_calls` are accepted: one labels a
 * request, the other cannot change a response that holds one call.
 */
/** `name` or `name@version`: versions are Postgres integers, so a larger one names nothing and is refused as input. */
export function modelReference(maxLength: number) {
  return z
    .string()
    .min(1)
    .max(maxLength)
    .refine((s) => Number(/@(\d+)$/.exec(s)?.[1] ?? 0) <= 2 ** 31 - 1, 'a version is at most 2147483647');
}

export const routingSchema = z
  .strictObject({
    mode: z.enum(['adapter', 'mixture', 'token', 'auto']),
    adapters: z
      .array(
        z.strictObject({
          name: modelReference(120).describe('adapter or adapter@version'),
          weight: z.number().min(-10).max(10).optional(),
        }),
      )
      .min(1)
      .max(16)
      .optional()
      .describe(
        'adapter: the one adapter; mixture: the adapters and their weights; token and auto: the candidates (default: every adapter the caller may use)',
      ),
    top_k: z
      .number()
      .int()
      .min(1)
      .max(16)
      .optional()
      .describe(
        'auto: how many adapters share a request (default 1); token (Arrow): how many share each token (default 2)',
      ),
    router: z
      .enum(['centroid', 'arrow'])
      .optional()
      .describe(
        "auto: centroid (per request, the default) or arrow (per token and layer, by each adapter's SVD prototype)",
      ),
    return_gates: z
      .boolean()
      .optional()
      .describe("Add each token's gates (averaged over the adapted layers) to the routing trace"),
  })
  .meta({ id: 'Routing' });
export type Routing = z.infer<typeof routingSchema>;

const samplingFields = {
  model: modelReference(200).describe('A base model, an adapter (name or name@version), or a composition'),
  max_tokens: z.number().int().min(1).max(4096).optional(),
  max_completion_tokens: z
    .number()
    .int()
    .min(1)
    .max(4096)
    .optional()
    .describe("OpenAI's newer name for max_tokens; wins when both are given"),
  presence_penalty: z
    .number()
    .min(-2)
    .max(2)
    .nullable()
    .optional()
    .describe('Subtracted once from the logit of every token the completion already holds'),
  frequency_penalty: z
    .number()
    .min(-2)
    .max(2)
    .nullable()
    .optional()
    .describe('Subtracted from a token’s logit per time the completion holds it'),
  logit_bias: z
    .record(z.string().regex(/^\d{1,9}$/, 'a token id'), z.number().min(-100).max(100))
    .refine((bias) => Object.keys(bias).length <= 300, 'at most 300 token ids')
    .nullable()
    .optional()
    .describe('Token id → bias added to its logit (−100 bans the token, 100 forces it)'),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  stop: z
    .union([z.string().min(1), z.array(z.string().min(1)).max(4)])
    .nullable()
    .optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  n: z
    .number()
    .int()
    .min(1)
    .max(16)
    .nullable()
    .optional()
    .describe('How many choices to generate, each a row of the batch (seed + index when a seed is given)'),
  response_format: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('text') }),
      z.strictObject({ type: z.literal('json_object') }),
      z.strictObject({
        type: z.literal('json_schema'),
        json_schema: z.strictObject({
          name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -, at most 64'),
          description: z.string().max(4096).optional(),
          schema: z
            .record(z.string(), z.unknown())
            .refine((schema) => JSON.stringify(schema).length <= 65_536, 'at most 64 KiB of JSON')
            .optional(),
          strict: z.boolean().nullable().optional(),
        }),
      }),
    ])
    .optional()
    .describe(
      'json_object: any JSON object; json_schema: JSON that validates against the schema. Enforced by constrained decoding (docs/api-guide.md lists the keywords supported)',
    ),
  user: z.string().max(256).optional(),
  routing: routingSchema.optional(),
};

export const completionRequestSchema = z
  .strictObject({
    ...samplingFields,
    prompt: z.union([z.string().min(1), z.array(z.string().min(1)).length(1)]).describe('One prompt'),
    logprobs: z
      .number()
      .int()
      .min(0)
      .max(5)
      .nullable()
      .optional()
      .describe("Each token's log-probability and this many most likely alternatives"),
  })
  .meta({ id: 'CompletionRequest' });
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/** A text part of a message's content; OpenAI's other part types (images, audio, files) are refused. */
const textPartSchema = z.strictObject({ type: z.literal('text'), text: z.string() });
const contentSchema = z
  .union([z.string(), z.array(textPartSchema).min(1).max(64)])
  .describe('Text, or text parts joined');
const functionName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -, at most 64');

export const toolCallSchema = z
  .strictObject({
    id: z.string().min(1).max(256),
    type: z.literal('function'),
    function: z.strictObject({ name: functionName, arguments: z.string().describe('The arguments as JSON text') }),
  })
  .meta({ id: 'ToolCall' });

export const chatMessageSchema = z.discriminatedUnion('role', [
  z.strictObject({
    role: z
      .enum(['developer', 'system', 'user'])
      .describe('developer is read as system, as OpenAI does for models without a developer role'),
    content: contentSchema,
    name: z.string().max(256).optional(),
  }),
  z.strictObject({
    role: z.literal('assistant'),
    content: contentSchema.nullable().optional(),
    name: z.string().max(256).optional(),
    refusal: z.null().optional(),
    tool_calls: z.array(toolCallSchema).min(1).max(32).optional(),
  }),
  z.strictObject({
    role: z.literal('tool'),
    content: contentSchema,
    tool_call_id: z.string().min(1).max(256),
  }),
]);

export const functionToolSchema = z
  .strictObject({
    type: z.literal('function'),
    function: z.strictObject({
      name: functionName,
      description: z.string().max(4096).optional(),
      parameters: z
        .record(z.string(), z.unknown())
        .refine((schema) => JSON.stringify(schema).length <= 65_536, 'at most 64 KiB of JSON')
        .optional()
        .describe('A JSON Schema the arguments validate against (default: any object)'),
      strict: z.boolean().nullable().optional(),
    }),
  })
  .meta({ id: 'FunctionTool' });

export const chatCompletionRequestSchema = z
  .strictObject({
    ...samplingFields,
    messages: z.array(chatMessageSchema).min(1).max(256),
    tools: z.array(functionToolSchema).min(1).max(32).optional(),
    tool_choice: z
      .union([
        z.enum(['none', 'auto', 'required']),
        z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: functionName }) }),
      ])
      .optional()
      .describe(
        'none, required or a named function; auto is refused: the model cannot choose between text and a call, so the caller says which (docs/api-guide.md)',
      ),
    parallel_tool_calls: z.boolean().optional().describe('Accepted; a response holds one call'),
    logprobs: z.boolean().nullable().optional().describe("Return each token's log-probability"),
    top_logprobs: z
      .number()
      .int()
      .min(0)
      .max(20)
      .nullable()
      .optional()
      .describe('With logprobs: this many most likely alternatives per token'),
  })
  .refine((body) => !body.top_logprobs || body.logprobs, {
    message: 'top_logprobs needs logprobs: true',
    path: ['top_logprobs'],
  })
  .meta({ id: 'ChatCompletionRequest' });
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

export const routingTraceSchema = z
  .object({
    mode: z.enum(['base', 'adapter', 'mixture', 'token', 'auto']),
    router: z
      .enum(['fixed', 'centroid', 'arrow', 'learned_gate', 'merged'])
      .describe(
        'How the weights were set: fixed (given), centroid, arrow or learned_gate (per token), merged (a weight-space composition)',
      ),
    composition: z.object({ name: z.string(), version: z.number().int(), method: z.string() }).optional(),
    adapters: z.array(
      z.object({
        name: z.string(),
        version: z.number().int(),
        weight: z
          .number()
          .describe("fixed and centroid: the adapter's weight; per-token routers: its mean gate over the tokens read"),
        score: z.number().optional().describe("centroid: cosine similarity to the adapter's training centroid"),
      }),
    ),
    token_gates: z
      .object({ tokens: z.array(z.string()), gates: z.array(z.array(z.number())) })
      .optional()
      .describe(
        'With return_gates: each token the model read (the prompt, then the completion but its last token) and its gates, one column per adapter in `adapters` order',
      ),
  })
  .meta({ id: 'RoutingTrace' });
export type RoutingTrace = z.infer<typeof routingTraceSchema>;

export const usageSchema = z
  .object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() })
  .meta({ id: 'Usage' });

const finishReason = z.enum(['stop', 'length']).nullable();
const chatFinishReason = z.enum(['stop', 'length', 'tool_calls']).nullable();

export const completionSchema = z
  .object({
    id: z.string(),
    object: z.literal('text_completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        text: z.string(),
        finish_reason: finishReason,
        logprobs: z
          .object({
            tokens: z.array(z.string()),
            token_logprobs: z.array(z.number()),
            top_logprobs: z.array(z.record(z.string(), z.number())),
            text_offset: z.array(z.number().int()),
          })
          .nullable(),
      }),
    ),
    usage: usageSchema,
    routing: routingTraceSchema,
  })
  .meta({ id: 'Completion' });

export const chatCompletionSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        message: z.object({
          role: z.literal('assistant'),
          content: z.string().nullable(),
          refusal: z.null(),
          tool_calls: z.array(toolCallSchema).optional(),
        }),
        finish_reason: chatFinishReason,
        logprobs: z
          .object({
            content: z.array(
              z.object({
                token: z.string(),
                logprob: z.number(),
                bytes: z.array(z.number().int()),
                top_logprobs: z.array(
                  z.object({ token: z.string(), logprob: z.number(), bytes: z.array(z.number().int()) }),
                ),
              }),
            ),
            refusal: z.null(),
          })
          .nullable(),
      }),
    ),
    usage: usageSchema,
    routing: routingTraceSchema,
  })
  .meta({ id: 'ChatCompletion' });

export const modelSchema = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int(),
    owned_by: z.string(),
    tessera: z.object({ kind: z.enum(['base_model', 'adapter', 'composition']), base_model: z.string() }),
  })
  .meta({ id: 'Model' });
export type ModelDto = z.infer<typeof modelSchema>;

export const modelListSchema = z
  .object({ object: z.literal('list'), data: z.array(modelSchema) })
  .meta({ id: 'ModelList' });
