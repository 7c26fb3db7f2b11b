import type { ChatCompletionRequest, CompletionRequest } from '@tessera/contracts';
import { compileJsonSchema, UnsupportedSchemaError } from '@tessera/engine';
import type { InferJobData } from '@tessera/queue';
import { Ajv } from 'ajv';
import { ProblemException } from '../common/problem.exception.js';

/** Only to check that a schema is a schema (its metaschema); the worker's grammar enforces it. */
const ajv = new Ajv({ strict: false });

/** What a request's output must be: JSON (by a schema or any object), and whether that JSON is a tool call. */
export interface StructuredPlan {
  structured?: NonNullable<InferJobData['structured']>;
  /** The output is `{"name": …, "arguments": …}`, answered as tool_calls. */
  toolCall: boolean;
}

/**
 * Reads response_format, tools and tool_choice into the worker's constraint, refusing what
 * cannot be honoured with the field that says it: a schema keyword outside the subset, stop
 * sequences (they would cut the JSON), tool_choice auto (the model cannot choose between text
 * and a call), a forced call beside a response format.
 */
export function structuredPlan(body: CompletionRequest | ChatCompletionRequest): StructuredPlan {
  const format = body.response_format;
  const chat = 'messages' in body ? body : undefined;
  const forcedCall = chat?.tools !== undefined && chat.tool_choice !== 'none';
  if (chat?.tool_choice !== undefined && chat.tool_choice !== 'none' && !chat.tools)
    throw invalid('body.tool_choice', 'names a tool, but the request declares no tools');
  if (forcedCall && (chat!.tool_choice === undefined || chat!.tool_choice === 'auto'))
    throw invalid(
      'body.tool_choice',
      'auto is not supported: the model cannot choose between text and a call. Pass "required", a named function, or "none"',
    );
  if (forcedCall && format && format.type !== 'text')
    throw invalid('body.response_format', 'a forced tool call already fixes the output; drop response_format');
  const json = forcedCall || (format !== undefined && format.type !== 'text');
  if (json && body.stop != null && body.stop.length)
    throw invalid('body.stop', 'stop sequences would cut structured output short; drop them');
  if (forcedCall) return { structured: { schema: toolCallSchema(chat!) }, toolCall: true };
  if (format?.type === 'json_object') return { structured: {}, toolCall: false };
  if (format?.type === 'json_schema') {
    const schema = format.json_schema.schema;
    if (schema === undefined) return { structured: {}, toolCall: false };
    checkSchema(schema, 'body.response_format.json_schema.schema');
    return { structured: { schema }, toolCall: false };
  }
  return { toolCall: false };
}

/** `{"name": <a tool's name>, "arguments": <its parameters>}` for the tools the call may be to. */
function toolCallSchema(chat: ChatCompletionRequest): object {
  const choice = chat.tool_choice;
  const named = typeof choice === 'object' ? choice.function.name : undefined;
  const tools = (chat.tools ?? []).filter((tool) => named === undefined || tool.function.name === named);
  if (tools.length === 0) throw invalid('body.tool_choice.function.name', `"${named}" is not one of the tools`);
  const names = new Set<string>();
  const options = tools.map((tool, i) => {
    if (names.has(tool.function.name))
      throw invalid(`body.tools.${i}.function.name`, `"${tool.function.name}" is declared twice`);
    names.add(tool.function.name);
    const parameters = tool.function.parameters ?? { type: 'object' };
    checkSchema(parameters, `body.tools.${i}.function.parameters`);
    return {
      type: 'object',
      properties: { name: { const: tool.function.name }, arguments: parameters },
      required: ['name', 'arguments'],
      additionalProperties: false,
    };
  });
  return options.length === 1 ? options[0]! : { anyOf: options };
}

function checkSchema(schema: unknown, field: string): void {
  if (!ajv.validateSchema(schema as object))
    throw invalid(field, `is not a valid JSON Schema: ${ajv.errorsText(ajv.errors, { dataVar: 'schema' })}`);
  try {
    compileJsonSchema(schema);
  } catch (error) {
    if (error instanceof UnsupportedSchemaError) throw invalid(field, error.message);
    throw error;
  }
}

/** The tool call a generation wrote, in OpenAI's shape (arguments as JSON text). */
export function toolCallOf(
  text: string,
  id: string,
): { id: string; type: 'function'; function: { name: string; arguments: string } } {
  const call = JSON.parse(text) as { name: string; arguments: unknown };
  return { id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.arguments) } };
}

function invalid(field: string, message: string): ProblemException {
  return new ProblemException('validation', `${field.replace(/^body\./, '')} ${message}`, [{ field, message }]);
}
