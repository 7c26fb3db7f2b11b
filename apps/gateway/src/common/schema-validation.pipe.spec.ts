import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAccessGroupSchema, idSchema } from '@tessera/contracts';
import { ProblemException } from './problem.exception.js';
import { SchemaValidationPipe } from './schema-validation.pipe.js';

describe('SchemaValidationPipe', () => {
  const pipe = new SchemaValidationPipe();

  it('returns the parsed value', async () => {
    assert.deepEqual(await pipe.transform({ name: 'ops' }, { type: 'body', schema: createAccessGroupSchema }), {
      name: 'ops',
    });
  });

  it('names each bad field with where it came from', async () => {
    const error = await pipe
      .transform({ name: 7, extra: 1 }, { type: 'body', schema: createAccessGroupSchema })
      .catch((e) => e);
    assert.ok(error instanceof ProblemException);
    assert.deepEqual(error.errors?.map((e) => e.field).sort(), ['body.extra', 'body.name']);
    const param = (await pipe
      .transform('nope', { type: 'param', data: 'group_id', schema: idSchema('grp') })
      .catch((e: unknown) => e)) as ProblemException;
    assert.equal(param.errors?.[0]?.field, 'path.group_id');
  });

  it('leaves parameters without a schema alone', async () => {
    assert.equal(await pipe.transform('x', { type: 'body' }), 'x');
  });
});
