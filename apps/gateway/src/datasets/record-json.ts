/** Keys that reach an object's prototype when a parsed record is merged or assigned somewhere. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type RecordJson =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'not-json' }
  | { ok: false; reason: 'too-deep'; maxDepth: number }
  | { ok: false; reason: 'prototype-key'; key: string; path: string };

/**
 * Parses one JSONL line, then walks the value with an explicit stack (nothing here recurses,
 * and V8's JSON.parse does not either) before any schema or other code descends into it:
 * past `maxDepth` nested arrays and objects it is refused, and so is any `__proto__`,
 * `constructor` or `prototype` key, named with its path. JSON.parse defines such keys as
 * plain own properties, so the value is inert until something copies it; secure-json-parse
 * does the same parse and scan, but cannot say which key it found, and lets a bare
 * `prototype` or `constructor` key through.
 */
export function parseRecordJson(text: string, maxDepth: number): RecordJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not-json' };
  }
  const stack: { node: unknown; depth: number; path: string }[] = [{ node: value, depth: 0, path: '' }];
  while (stack.length > 0) {
    const { node, depth, path } = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth + 1 > maxDepth) return { ok: false, reason: 'too-deep', maxDepth };
    for (const key of Object.keys(node)) {
      const at = path ? `${path}.${key}` : key;
      if (!Array.isArray(node) && PROTOTYPE_KEYS.has(key)) return { ok: false, reason: 'prototype-key', key, path: at };
      stack.push({ node: (node as Record<string, unknown>)[key], depth: depth + 1, path: at });
    }
  }
  return { ok: true, value };
}
