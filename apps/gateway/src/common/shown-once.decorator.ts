import { SetMetadata } from '@nestjs/common';

export const SHOWN_ONCE_FIELDS = 'tessera:shown-once-fields';

/**
 * Names the response fields (dot paths, e.g. `api_key.secret`) that hold a secret shown only
 * in the response to the original request. The idempotency interceptor keeps the response
 * with these fields set to null, so Redis never holds the secret and a replay never shows it
 * again (the contract's `shownOnceSecret` documents the null).
 */
export const ShownOnce = (...paths: [string, ...string[]]) => SetMetadata(SHOWN_ONCE_FIELDS, paths);

/**
 * A copy of a JSON response body with each of `paths` set to null. A path the body lacks is
 * a route declaring the wrong field: it throws rather than keep a body that may hold the secret.
 */
export function withoutShownOnce(body: unknown, paths: readonly string[]): unknown {
  const copy: unknown = JSON.parse(JSON.stringify(body));
  for (const path of paths) {
    const keys = path.split('.');
    const field = keys.pop()!;
    let parent: unknown = copy;
    for (const key of keys) parent = isRecord(parent) ? parent[key] : undefined;
    if (!isRecord(parent) || !(field in parent)) throw new Error(`the response has no shown-once field ${path}`);
    parent[field] = null;
  }
  return copy;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
