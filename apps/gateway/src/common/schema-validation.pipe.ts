import { Readable } from 'node:stream';
import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import type { ProblemFieldError } from '@tessera/contracts';
import { ProblemException } from './problem.exception.js';

const MAX_REPORTED_ERRORS = 20;

type Issue = {
  message: string;
  path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>;
  keys?: string[];
  code?: string;
};

/**
 * Validates every parameter that declares a `schema` (Standard Schema: our zod contracts)
 * and answers 400 naming each bad field as `body.x.y`, `query.limit` or `path.id`.
 */
@Injectable()
export class SchemaValidationPipe implements PipeTransform {
  async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const schema = metadata.schema;
    if (!schema || metadata.type === 'custom') return value;
    // Upload types (JSONL, octet-stream) are parsed as streams for the upload routes; a JSON route is not one.
    if (metadata.type === 'body' && value instanceof Readable)
      throw new ProblemException('unsupported-media-type', 'This route takes a JSON body (application/json)');
    const result = await schema['~standard'].validate(value);
    if (!result.issues) return result.value;
    const root = metadata.type === 'param' ? 'path' : metadata.type;
    const prefix = metadata.data ? `${root}.${metadata.data}` : root;
    const errors = result.issues.flatMap((issue) => fieldErrors(prefix, issue as Issue));
    throw new ProblemException(
      'validation',
      errors
        .map((e) => `${e.field}: ${e.message}`)
        .slice(0, 3)
        .join('; '),
      errors.slice(0, MAX_REPORTED_ERRORS),
    );
  }
}

function fieldErrors(prefix: string, issue: Issue): ProblemFieldError[] {
  const path = (issue.path ?? []).map((s) => String(typeof s === 'object' && s !== null ? s.key : s));
  const field = [prefix, ...path].join('.');
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    return issue.keys.map((key) => ({ field: `${field}.${key}`, message: 'unknown field' }));
  }
  return [{ field, message: issue.message }];
}
