import sjson from 'secure-json-parse';
import { ProblemException } from './problem.exception.js';

/**
 * A JSON request body, parsed by secure-json-parse as Fastify's own parser does, but telling
 * the caller which of two things is wrong: the text is not JSON, or it is JSON holding a key
 * that could alter object prototypes (`__proto__`, or `constructor` with a `prototype`).
 */
export function parseJsonBody(body: string): unknown {
  if (body.trim() === '') throw new ProblemException('malformed-json', 'The body is empty; send a JSON value');
  try {
    return sjson.parse(body, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    // secure-json-parse refuses after JSON.parse accepted: plain JSON that fails here held such a key.
    if (parsesAsJson(body))
      throw new ProblemException(
        'forbidden-json-key',
        'The body holds a "__proto__" key, or a "constructor" key with a "prototype": refused, as either could alter object prototypes',
      );
    throw new ProblemException('malformed-json', `The body is not valid JSON: ${(error as Error).message}`);
  }
}

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
