import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { canEnd, feed, initialState, shortestRest, type JsonState } from './json-automaton.js';
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
    const visit = (node: TrieNode, states: JsonState[]) => {
      for (const [byte, child] of node.children) {
        const next = states.flatMap((state) => feed(state, byte));
        if (next.length === 0) continue;
        if (child.tokens.length && Math.min(...next.map(shortestRest)) <= remaining - 1) child.tokens.forEach(allow);
        visit(child, next);
      }
    };
    visit(this.trie, this.states);
    if (allowed === 0) throw new Error('structured output: no token of the vocabulary can continue the JSON');
    return masked;
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
