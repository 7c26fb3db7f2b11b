import { z } from 'zod';
import { idSchema } from './id.js';
import { text } from './text.js';

const timestamp = z.iso.datetime();

/** How a dataset's records are shaped: `text`, `prompt` + `completion`, or chat `messages`. */
export const datasetFormatSchema = z.enum(['text', 'prompt_completion', 'chat']).meta({ id: 'DatasetFormat' });
export type DatasetFormat = z.infer<typeof datasetFormatSchema>;

export const datasetStatusSchema = z.enum(['uploading', 'validating', 'ready', 'failed']).meta({ id: 'DatasetStatus' });

export const datasetSchema = z
  .object({
    id: idSchema('ds'),
    name: z.string(),
    format: datasetFormatSchema,
    status: datasetStatusSchema,
    bytes: z.number().int(),
    record_count: z.number().int(),
    document_count: z.number().int(),
    token_count: z.number().int().describe('Tokens of the demo model (bytes of UTF-8 text)'),
    access_group_ids: z.array(idSchema('grp')).describe('The access groups its documents carry'),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Dataset' });
export type Dataset = z.infer<typeof datasetSchema>;

export const createDatasetSchema = z
  .strictObject({ name: text(200).trim().min(1), format: datasetFormatSchema })
  .meta({ id: 'CreateDatasetRequest' });
export type CreateDataset = z.infer<typeof createDatasetSchema>;

export const documentStatusSchema = z.enum(['active', 'deleting', 'deleted']).meta({ id: 'DocumentStatus' });

export const documentSchema = z
  .object({
    id: idSchema('doc'),
    dataset_id: idSchema('ds'),
    document_id: z.string().describe("The uploader's document_id (line-<n> for records that named none)"),
    access_group_id: idSchema('grp').nullable(),
    content_hash: z
      .string()
      .nullable()
      .describe(
        "sha256 of the document's records, one JSON line each; null once the document is deleted (it would confirm a guess of the text)",
      ),
    record_count: z.number().int(),
    token_count: z.number().int(),
    status: documentStatusSchema,
    created_at: timestamp,
  })
  .meta({ id: 'Document' });
export type DocumentDto = z.infer<typeof documentSchema>;

const chatMessageSchema = z.strictObject({ role: z.enum(['system', 'user', 'assistant']), content: z.string() });

/** Fields every record may carry besides its content. */
const recordMeta = {
  document_id: text(200).min(1).optional(),
  access_group: text(200).min(1).optional().describe('An access group of the tenant, by id (grp_…) or name'),
};

/** One JSONL line of a dataset, by format. */
export const datasetRecordSchemas = {
  text: z.strictObject({ text: z.string().min(1), ...recordMeta }),
  prompt_completion: z.strictObject({ prompt: z.string(), completion: z.string().min(1), ...recordMeta }),
  chat: z.strictObject({
    messages: z
      .array(chatMessageSchema)
      .min(1)
      .refine((m) => m.some((x) => x.role === 'assistant'), 'needs an assistant turn to learn from'),
    ...recordMeta,
  }),
} as const;
export type DatasetRecord = z.infer<(typeof datasetRecordSchemas)[DatasetFormat]>;

/**
 * The name of the document a dataset line belongs to: its `document_id`, else `line-<n>` (n
 * counted from 1 over the file's lines). The upload records documents by it; training, the
 * audit and erasure find their lines by it.
 */
export function documentExternalId(documentId: unknown, lineNumber: number): string {
  return typeof documentId === 'string' ? documentId : `line-${lineNumber}`;
}
