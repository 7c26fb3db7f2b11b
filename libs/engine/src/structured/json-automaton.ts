import { objectRest, propertyLength, shortestLength, type JsonGrammar } from './json-grammar.js';

/**
 * A pushdown automaton over the bytes of compact JSON that a grammar admits. A state is an
 * immutable stack of frames (shared tails, so branching is cheap); `feed` returns every state a
 * byte can lead to (several where the grammar is a union, none where the byte is wrong), and
 * `shortestRest` says how many bytes at least close the document from a state, which is what
 * keeps every generation finishable within its token budget.
 */
export type JsonState = { frame: Frame; up: JsonState } | null;

type ObjectGrammar = Extract<JsonGrammar, { kind: 'object' }>;
type ArrayGrammar = Extract<JsonGrammar, { kind: 'array' }>;
type NumberPhase = 'minus' | 'zero' | 'int' | 'dot' | 'frac' | 'e' | 'esign' | 'exp';
type ContainerPhase = 'open' | 'key' | 'colon' | 'value' | 'after' | 'comma';

type Frame =
  /** A value not begun yet (the document's root). */
  | { t: 'value'; grammar: JsonGrammar }
  | { t: 'literal'; bytes: Uint8Array; i: number }
  /**
   * Inside quotes. escape: -1 after a backslash, 1–4 hex digits owed after \u. utf8: continuation
   * bytes owed. The next byte of either lies within [low, high] (UTF-8 without overlong forms or
   * surrogates, escapes without surrogate halves).
   */
  | { t: 'string'; min: number; max: number; length: number; escape: number; utf8: number; low: number; high: number }
  | { t: 'number'; integer: boolean; phase: NumberPhase; bytes: number; exponent: number }
  /** current: the property whose key was read last; next: the first one that may still follow. */
  | { t: 'object'; grammar: ObjectGrammar; phase: ContainerPhase; current: number; next: number }
  /** A closed object's key being read: the properties it can still be and the bytes matched. */
  | { t: 'key'; candidates: readonly number[]; i: number }
  | { t: 'anyObject'; phase: ContainerPhase }
  | { t: 'array'; grammar: ArrayGrammar; phase: ContainerPhase; count: number };

/** Numbers longer than this are cut off: no model needs 40 digits, and it bounds a runaway. */
const MAX_NUMBER_BYTES = 24;
/** Two exponent digits at most, so no number overflows a double to Infinity. */
const MAX_EXPONENT_DIGITS = 2;
const FRESH_STRING = { t: 'string', length: 0, escape: 0, utf8: 0, low: 0x80, high: 0xbf } as const;
const ANY_OPTIONS: readonly JsonGrammar[] = [
  { kind: 'anyObject' },
  { kind: 'array', items: { kind: 'any' }, minItems: 0, maxItems: Infinity },
  { kind: 'string', minLength: 0, maxLength: Infinity },
  { kind: 'number', integer: false },
  { kind: 'literal', text: 'true' },
  { kind: 'literal', text: 'false' },
  { kind: 'literal', text: 'null' },
];
const encoder = new TextEncoder();
const keyBytes = new WeakMap<object, Uint8Array>();

export function initialState(grammar: JsonGrammar): JsonState {
  return { frame: { t: 'value', grammar }, up: null };
}

/** True where the document may end here: closed, or a root number that could take more digits. */
export function canEnd(state: JsonState): boolean {
  return state === null || (state.up === null && state.frame.t === 'number' && numberEnds(state.frame.phase));
}

/** Every state `byte` leads to from `state`; none where it cannot follow. */
export function feed(state: JsonState, byte: number): JsonState[] {
  if (state === null) return [];
  const { frame, up } = state;
  switch (frame.t) {
    case 'value':
      return startValue(frame.grammar, up, byte);
    case 'literal':
      if (frame.bytes[frame.i] !== byte) return [];
      return frame.i + 1 === frame.bytes.length ? [up] : [{ frame: { ...frame, i: frame.i + 1 }, up }];
    case 'string':
      return feedString(frame, up, byte);
    case 'number':
      return feedNumber(frame, up, byte);
    case 'object':
      return feedObject(frame, up, byte);
    case 'key':
      return feedKey(frame, up, byte);
    case 'anyObject':
      return feedAnyObject(frame, up, byte);
    case 'array':
      return feedArray(frame, up, byte);
  }
}

/** The fewest bytes that complete the document from `state`. */
export function shortestRest(state: JsonState): number {
  let bytes = 0;
  for (let s = state; s !== null; s = s.up) bytes += frameRest(s.frame, s.up);
  return bytes;
}

/**
 * A key equal for states that accept the same bytes from here on, with the same shortest rest:
 * a string's or an array's count is left out once no bound can reach it (free text of any
 * length reads alike), so a constraint can reuse the token mask it computed for such a state.
 */
export function stateKey(state: JsonState): string {
  const parts: (string | number)[] = [];
  for (let s = state; s !== null; s = s.up) {
    const f = s.frame;
    switch (f.t) {
      case 'value':
        parts.push('v', grammarId(f.grammar));
        break;
      case 'literal':
        parts.push('l', new TextDecoder().decode(f.bytes), f.i);
        break;
      case 'string':
        parts.push(
          's',
          f.min,
          f.max,
          f.max === Infinity && f.length >= f.min ? 'n' : f.length,
          f.escape,
          f.utf8,
          f.low,
          f.high,
        );
        break;
      case 'number':
        parts.push('#', f.integer ? 1 : 0, f.phase, f.bytes, f.exponent);
        break;
      case 'object':
        parts.push('o', grammarId(f.grammar), f.phase, f.current, f.next);
        break;
      case 'key':
        parts.push('k', f.candidates.join(','), f.i);
        break;
      case 'anyObject':
        parts.push('a', f.phase);
        break;
      case 'array': {
        const free = f.grammar.maxItems === Infinity && f.count >= f.grammar.minItems;
        parts.push('[', grammarId(f.grammar), f.phase, free ? 'n' : f.count);
        break;
      }
    }
  }
  return parts.join(' ');
}

const grammarIds = new WeakMap<object, number>();
let nextGrammarId = 0;
function grammarId(grammar: JsonGrammar): number {
  let id = grammarIds.get(grammar);
  if (id === undefined) grammarIds.set(grammar, (id = nextGrammarId++));
  return id;
}

function startValue(grammar: JsonGrammar, up: JsonState, byte: number): JsonState[] {
  switch (grammar.kind) {
    case 'any':
      return ANY_OPTIONS.flatMap((option) => startValue(option, up, byte));
    case 'union':
      return grammar.options.flatMap((option) => startValue(option, up, byte));
    case 'literal': {
      const bytes = encoder.encode(grammar.text);
      if (bytes[0] !== byte) return [];
      return bytes.length === 1 ? [up] : [{ frame: { t: 'literal', bytes, i: 1 }, up }];
    }
    case 'string':
      if (byte !== QUOTE) return [];
      return [{ frame: { ...FRESH_STRING, min: grammar.minLength, max: grammar.maxLength }, up }];
    case 'number': {
      const phase: NumberPhase | null =
        byte === MINUS ? 'minus' : byte === ZERO ? 'zero' : isDigit(byte) ? 'int' : null;
      return phase ? [{ frame: { t: 'number', integer: grammar.integer, phase, bytes: 1, exponent: 0 }, up }] : [];
    }
    case 'object':
      return byte === OPEN_BRACE ? [{ frame: { t: 'object', grammar, phase: 'open', current: -1, next: 0 }, up }] : [];
    case 'anyObject':
      return byte === OPEN_BRACE ? [{ frame: { t: 'anyObject', phase: 'open' }, up }] : [];
    case 'array':
      return byte === OPEN_BRACKET ? [{ frame: { t: 'array', grammar, phase: 'open', count: 0 }, up }] : [];
  }
}

function feedString(frame: Extract<Frame, { t: 'string' }>, up: JsonState, byte: number): JsonState[] {
  const next = (changes: Partial<typeof frame>): JsonState[] => [{ frame: { ...frame, ...changes }, up }];
  if (frame.escape === -1) {
    if (byte === 0x75 /* u */) return next({ escape: 4, low: 0, high: 0xff });
    return SIMPLE_ESCAPES.has(byte) ? next({ escape: 0 }) : [];
  }
  if (frame.escape > 0) {
    if (!isHex(byte) || byte < frame.low || byte > frame.high) return [];
    // \uD800–\uDFFF are halves of surrogate pairs: refused (the digit after a D is 0–7), so each escape is one whole character.
    const afterD = frame.escape === 4 && (byte === 0x64 || byte === 0x44);
    return next({ escape: frame.escape - 1, ...(afterD ? { low: 0x30, high: 0x37 } : { low: 0, high: 0xff }) });
  }
  if (frame.utf8 > 0)
    return byte >= frame.low && byte <= frame.high ? next({ utf8: frame.utf8 - 1, low: 0x80, high: 0xbf }) : [];
  if (byte === QUOTE) return frame.length >= frame.min ? [up] : [];
  if (byte < 0x20 || frame.length >= frame.max) return [];
  // A character starts here: an escape, an ASCII byte, or a UTF-8 lead byte and its continuations.
  if (byte === BACKSLASH) return next({ escape: -1, length: frame.length + 1 });
  if (byte < 0x80) return next({ length: frame.length + 1 });
  const owed =
    byte >= 0xc2 && byte <= 0xdf ? 1 : byte >= 0xe0 && byte <= 0xef ? 2 : byte >= 0xf0 && byte <= 0xf4 ? 3 : 0;
  if (!owed) return [];
  // The second byte's range, as RFC 3629 §4 writes it.
  const [low, high] =
    byte === 0xe0
      ? [0xa0, 0xbf]
      : byte === 0xed
        ? [0x80, 0x9f]
        : byte === 0xf0
          ? [0x90, 0xbf]
          : byte === 0xf4
            ? [0x80, 0x8f]
            : [0x80, 0xbf];
  return next({ utf8: owed, length: frame.length + 1, low, high });
}

function feedNumber(frame: Extract<Frame, { t: 'number' }>, up: JsonState, byte: number): JsonState[] {
  const to = (phase: NumberPhase): JsonState[] =>
    frame.bytes < MAX_NUMBER_BYTES && frame.exponent < MAX_EXPONENT_DIGITS
      ? [
          {
            frame: { ...frame, phase, bytes: frame.bytes + 1, exponent: frame.exponent + (phase === 'exp' ? 1 : 0) },
            up,
          },
        ]
      : [];
  const { phase } = frame;
  if (isDigit(byte)) {
    if (phase === 'minus') return to(byte === ZERO ? 'zero' : 'int');
    if (phase === 'zero') return [];
    if (phase === 'int') return to('int');
    if (phase === 'dot' || phase === 'frac') return to('frac');
    return to('exp');
  }
  if (!frame.integer) {
    if (byte === DOT && (phase === 'zero' || phase === 'int')) return to('dot');
    if ((byte === 0x65 || byte === 0x45) && (phase === 'zero' || phase === 'int' || phase === 'frac')) return to('e');
    if ((byte === PLUS || byte === MINUS) && phase === 'e') return to('esign');
  }
  // Any other byte ends the number and belongs to what holds it.
  return numberEnds(phase) ? feed(up, byte) : [];
}

function feedObject(frame: Extract<Frame, { t: 'object' }>, up: JsonState, byte: number): JsonState[] {
  const { grammar } = frame;
  const closable = objectRest(grammar, frame.next, false) === 1;
  switch (frame.phase) {
    case 'open':
    case 'comma': {
      if (byte === CLOSE_BRACE && frame.phase === 'open' && closable) return [up];
      if (byte !== QUOTE) return [];
      const candidates = keyCandidates(grammar, frame.next);
      return candidates.length
        ? [{ frame: { t: 'key', candidates, i: 0 }, up: { frame: { ...frame, phase: 'key' }, up } }]
        : [];
    }
    case 'colon':
      return byte === COLON ? [{ frame: { ...frame, phase: 'value' }, up }] : [];
    case 'value':
      return startValue(grammar.properties[frame.current]!.grammar, { frame: { ...frame, phase: 'after' }, up }, byte);
    case 'after':
      if (byte === CLOSE_BRACE) return closable ? [up] : [];
      if (byte === COMMA && keyCandidates(grammar, frame.next).length)
        return [{ frame: { ...frame, phase: 'comma' }, up }];
      return [];
    case 'key':
      return [];
  }
}

function feedKey(frame: Extract<Frame, { t: 'key' }>, up: JsonState, byte: number): JsonState[] {
  const object = up!.frame as Extract<Frame, { t: 'object' }>;
  const states: JsonState[] = [];
  // A quote closes a key that ends here, or is the escaped quote of a longer one (after its backslash).
  const closed = byte === QUOTE && frame.candidates.find((c) => propertyKeyBytes(object.grammar, c).length === frame.i);
  if (closed !== undefined && closed !== false)
    states.push({ frame: { ...object, phase: 'colon', current: closed, next: closed + 1 }, up: up!.up });
  const candidates = frame.candidates.filter((c) => propertyKeyBytes(object.grammar, c)[frame.i] === byte);
  if (candidates.length) states.push({ frame: { t: 'key', candidates, i: frame.i + 1 }, up });
  return states;
}

function feedAnyObject(frame: Extract<Frame, { t: 'anyObject' }>, up: JsonState, byte: number): JsonState[] {
  const key = (): JsonState[] => [
    {
      frame: { ...FRESH_STRING, min: 0, max: Infinity },
      up: { frame: { t: 'anyObject', phase: 'colon' }, up },
    },
  ];
  switch (frame.phase) {
    case 'open':
      if (byte === CLOSE_BRACE) return [up];
      return byte === QUOTE ? key() : [];
    case 'comma':
      return byte === QUOTE ? key() : [];
    case 'colon':
      return byte === COLON ? [{ frame: { t: 'anyObject', phase: 'value' }, up }] : [];
    case 'value':
      return startValue({ kind: 'any' }, { frame: { t: 'anyObject', phase: 'after' }, up }, byte);
    case 'after':
      if (byte === CLOSE_BRACE) return [up];
      return byte === COMMA ? [{ frame: { t: 'anyObject', phase: 'comma' }, up }] : [];
    case 'key':
      return [];
  }
}

function feedArray(frame: Extract<Frame, { t: 'array' }>, up: JsonState, byte: number): JsonState[] {
  const { grammar, count } = frame;
  const item = (): JsonState[] =>
    count < grammar.maxItems
      ? startValue(grammar.items, { frame: { ...frame, phase: 'after', count: count + 1 }, up }, byte)
      : [];
  switch (frame.phase) {
    case 'open':
      if (byte === CLOSE_BRACKET) return grammar.minItems === 0 ? [up] : [];
      return item();
    case 'comma':
      return item();
    case 'after':
      if (byte === CLOSE_BRACKET) return count >= grammar.minItems ? [up] : [];
      return byte === COMMA && count < grammar.maxItems ? [{ frame: { ...frame, phase: 'comma' }, up }] : [];
    default:
      return [];
  }
}

function frameRest(frame: Frame, up: JsonState): number {
  switch (frame.t) {
    case 'value':
      return shortestLength(frame.grammar);
    case 'literal':
      return frame.bytes.length - frame.i;
    case 'string':
      return (frame.escape === -1 ? 1 : frame.escape) + frame.utf8 + Math.max(0, frame.min - frame.length) + 1;
    case 'number':
      return numberEnds(frame.phase) ? 0 : 1;
    case 'object':
      return objectFrameRest(frame);
    case 'key': {
      const object = (up!.frame as Extract<Frame, { t: 'object' }>).grammar;
      return Math.min(
        ...frame.candidates.map(
          (c) =>
            propertyKeyBytes(object, c).length -
            frame.i +
            2 +
            shortestLength(object.properties[c]!.grammar) +
            objectRest(object, c + 1, false),
        ),
      );
    }
    case 'anyObject':
      // '}' after the value; ':' and a one-byte value after a key; '"":0}' after a comma.
      return { open: 1, key: 3, colon: 3, value: 2, after: 1, comma: 5 }[frame.phase];
    case 'array': {
      const item = shortestLength(frame.grammar.items);
      const owed = Math.max(0, frame.grammar.minItems - frame.count);
      if (frame.phase === 'open') return owed === 0 ? 1 : owed * (item + 1);
      if (frame.phase === 'comma') return item + Math.max(0, owed - 1) * (item + 1) + 1;
      return owed * (item + 1) + 1;
    }
  }
}

function objectFrameRest(frame: Extract<Frame, { t: 'object' }>): number {
  const { grammar } = frame;
  switch (frame.phase) {
    case 'open':
      return objectRest(grammar, 0, true);
    case 'key':
      return 0; // the key frame above counts the rest of the object
    case 'colon':
      return 1 + shortestLength(grammar.properties[frame.current]!.grammar) + objectRest(grammar, frame.next, false);
    case 'value':
      return shortestLength(grammar.properties[frame.current]!.grammar) + objectRest(grammar, frame.next, false);
    case 'after':
      return objectRest(grammar, frame.next, false);
    case 'comma':
      return Math.min(
        ...keyCandidates(grammar, frame.next).map(
          (c) => propertyLength(grammar.properties[c]!) + objectRest(grammar, c + 1, false),
        ),
      );
  }
}

/** The properties that may come next: in order, up to and including the first required one. */
function keyCandidates(grammar: ObjectGrammar, next: number): number[] {
  const candidates: number[] = [];
  for (let i = next; i < grammar.properties.length; i++) {
    candidates.push(i);
    if (grammar.properties[i]!.required) break;
  }
  return candidates;
}

function propertyKeyBytes(grammar: ObjectGrammar, index: number): Uint8Array {
  const property = grammar.properties[index]!;
  let bytes = keyBytes.get(property);
  if (!bytes) keyBytes.set(property, (bytes = encoder.encode(property.text)));
  return bytes;
}

function numberEnds(phase: NumberPhase): boolean {
  return phase === 'zero' || phase === 'int' || phase === 'frac' || phase === 'exp';
}

function isDigit(byte: number): boolean {
  return byte >= ZERO && byte <= 0x39;
}

function isHex(byte: number): boolean {
  return isDigit(byte) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const DOT = 0x2e;
const PLUS = 0x2b;
const MINUS = 0x2d;
const ZERO = 0x30;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
/** The bytes that may follow a backslash besides u: " \ / b f n r t. */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
