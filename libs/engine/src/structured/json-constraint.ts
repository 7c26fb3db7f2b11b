import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { canEnd, feed, initialState, shortestRest, stateKey, type JsonState } from './json-automaton.js';
import type { JsonGrammar } from './json-grammar.js';

/**
 * What constrained decoding asks of a generation: at each step the tokens that may come next,
 * and then the token chosen. The scheduler masks the logits with it before sampling.
 */
export interface OutputConstraint {
  /** A copy of `logits` with every token that cannot come next at -Infinity; `remaining`: tokens left, this one included. */
  mask(logits: Float32Array, remaining: number): Float32Array;
  /** Moves past the chosen token; true when the output is complete and nothing may follow. */
  advance(token: number): boolean;
}

/** A byte trie of the vocabulary: tokens sharing a prefix are checked against the grammar once for it. */
interface TrieNode {
  children: Map<number, TrieNode>;
  tokens: number[];
}

const tries = new WeakMap<Tokenizer, TrieNode>();

/** The tokens that can come next from a state, each with the fewest bytes that close the document after it. */
interface Continuations {
  tokens: Int32Array;
  rests: Int32Array;
}

/** Distinct states a constraint remembers the continuations of (a JSON document rarely has more). */
const MAX_SEEN_STATES = 1024;

/**
 * Generation held to a JSON grammar: a token is allowed when its bytes keep the output a prefix
 * of some document the grammar admits that can still be closed in the tokens left (each byte
 * at worst one token: every tokenizer the engine reads has a token per ASCII byte). End-of-text
 * is allowed only where the document is complete. So every finished generation parses and
 * validates, whatever the sampling temperature.
 */
export class JsonConstraint implements OutputConstraint {
  private states: JsonState[];
  private readonly trie: TrieNode;
  private readonly seen = new Map<string, Continuations>();

  constructor(
    grammar: JsonGrammar,
    private readonly tokenizer: Tokenizer,
  ) {
    this.states = [initialState(grammar)];
    this.trie = vocabularyTrie(tokenizer);
  }

  mask(logits: Float32Array, remaining: number): Float32Array {
    const masked = new Float32Array(logits.length).fill(-Infinity);
    let allowed = 0;
    const allow = (token: number) => {
      masked[token] = logits[token]!;
      allowed++;
    };
    if (this.states.some(canEnd)) allow(this.tokenizer.endOfText);
    const { tokens, rests } = this.continuations();
    for (let i = 0; i < tokens.length; i++) if (rests[i]! <= remaining - 1) allow(tokens[i]!);
    if (allowed === 0) throw new Error('structured output: no token of the vocabulary can continue the JSON');
    return masked;
  }

  /**
   * Every token that can follow the current states and the fewest bytes that close the document
   * after it: one walk of the vocabulary's trie per distinct state (stateKey), then reused, so a
   * long free string costs one walk, not one per token.
   */
  private continuations(): Continuations {
    const key = this.states.map(stateKey).join('|');
    let found = this.seen.get(key);
    if (found) return found;
    const tokens: number[] = [];
    const rests: number[] = [];
    const visit = (node: TrieNode, states: JsonState[]) => {
      for (const [byte, child] of node.children) {
        const next = states.flatMap((state) => feed(state, byte));
        if (next.length === 0) continue;
        if (child.tokens.length) {
          const rest = Math.min(...next.map(shortestRest));
          for (const token of child.tokens) {
            tokens.push(token);
            rests.push(rest);
          }
        }
        visit(child, next);
      }
    };
    visit(this.trie, this.states);
    found = { tokens: Int32Array.from(tokens), rests: Int32Array.from(rests) };
    if (this.seen.size >= MAX_SEEN_STATES) this.seen.clear();
    this.seen.set(key, found);
    return found;
  }

  advance(token: number): boolean {
    if (token === this.tokenizer.endOfText) return true;
    let states = this.states;
    for (const byte of this.tokenizer.tokenBytes(token) ?? []) states = states.flatMap((state) => feed(state, byte));
    if (states.length === 0) throw new Error(`structured output: token ${token} does not continue the JSON`);
    this.states = states;
    return states.every((state) => state === null);
  }
}

function vocabularyTrie(tokenizer: Tokenizer): TrieNode {
  let root = tries.get(tokenizer);
  if (root) return root;
  root = { children: new Map(), tokens: [] };
  for (let token = 0; token < tokenizer.vocabSize; token++) {
    const bytes = tokenizer.tokenBytes(token);
    if (!bytes?.length) continue;
    let node = root;
    for (const byte of bytes) {
      let child = node.children.get(byte);
      if (!child) node.children.set(byte, (child = { children: new Map(), tokens: [] }));
      node = child;
    }
    node.tokens.push(token);
  }
  tries.set(tokenizer, root);
  return root;
}
