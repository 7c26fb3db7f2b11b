import type { Schemas } from '@tessera/sdk';

/** `none` runs the model as it is (a base model alone, a composition in its own mode). */
export type RoutingMode = 'none' | Schemas['Routing']['mode'];
export type ModelKind = Schemas['Model']['tessera']['kind'];

export interface PlaygroundSettings {
  model: string;
  prompt: string;
  mode: RoutingMode;
  /** adapter mode on a base model: the one adapter. */
  adapter: string;
  /** mixture: each adapter's weight as typed; blank leaves it out. */
  weights: Record<string, string>;
  /** token and auto: adapters left out of the candidates (none: every adapter the key may use). */
  excluded: string[];
  /** token and auto; blank is the gateway's default (token 2, auto 1). */
  topK: string;
  router: 'centroid' | 'arrow';
  returnGates: boolean;
  maxTokens: number;
  temperature: number;
}

export const DEFAULT_SETTINGS: PlaygroundSettings = {
  model: '',
  prompt: '',
  mode: 'none',
  adapter: '',
  weights: {},
  excluded: [],
  topK: '',
  router: 'centroid',
  returnGates: true,
  maxTokens: 48,
  temperature: 0,
};

/** What the picked model is: its kind, and for a composition the method that fixes its mode. */
export interface ModelTarget {
  kind: ModelKind;
  /** A composition's method, when the key may read compositions; unknown otherwise. */
  method?: Schemas['CompositionMethod'];
}

export const MODE_LABELS: Record<RoutingMode, string> = {
  none: 'none (the model alone)',
  adapter: 'adapter',
  mixture: 'mixture',
  token: 'token',
  auto: 'auto',
};

/**
 * The modes a model can run in. A base model takes every mode over its adapters; an adapter
 * runs as itself; a composition only in the mode its method was built for (the gateway
 * refuses any other), which is `none` when its method is not known.
 */
export function modesFor(target: ModelTarget | undefined): RoutingMode[] {
  if (!target) return ['none'];
  if (target.kind === 'base_model') return ['none', 'adapter', 'mixture', 'token', 'auto'];
  if (target.kind === 'adapter') return ['adapter'];
  if (target.method === 'learned_gate') return ['token'];
  if (target.method === 'centroid') return ['auto'];
  if (target.method) return ['mixture'];
  return ['none'];
}

/** Modes whose trace can carry per-token gates, worth asking for. */
export const gatesOffered = (mode: RoutingMode): boolean => mode === 'token' || mode === 'auto';

/** The adapters of a mixture: those given a number, with it as their weight. */
export function mixtureAdapters(weights: Record<string, string>): Array<{ name: string; weight: number }> {
  return Object.entries(weights)
    .filter(([, typed]) => typed.trim() !== '' && Number.isFinite(Number(typed)))
    .map(([name, typed]) => ({ name, weight: Number(typed) }));
}

/**
 * The `routing` object for these settings, or undefined to send none. `candidates` are the
 * adapters of the model's base that the key may use, in the order they are shown.
 */
export function routingFor(
  settings: PlaygroundSettings,
  mode: RoutingMode,
  target: ModelTarget,
  candidates: string[],
): Schemas['Routing'] | undefined {
  const gates = gatesOffered(mode) && settings.returnGates ? { return_gates: true } : {};
  const topK = settings.topK.trim() === '' ? {} : { top_k: Number(settings.topK) };
  const chosen = candidates.filter((name) => !settings.excluded.includes(name));
  // Every candidate chosen is the gateway's default: leaving the list out keeps the request short.
  const candidateList = chosen.length === candidates.length ? {} : { adapters: chosen.map((name) => ({ name })) };
  const composition = target.kind === 'composition';
  switch (mode) {
    case 'none':
      return undefined;
    case 'adapter':
      return target.kind === 'adapter'
        ? { mode }
        : { mode, adapters: [{ name: settings.adapter || candidates[0] || '' }] };
    case 'mixture':
      return composition ? { mode } : { mode, adapters: mixtureAdapters(settings.weights) };
    case 'token':
      return composition ? { mode, ...gates } : { mode, ...candidateList, ...topK, ...gates };
    case 'auto':
      return composition
        ? { mode, ...topK, ...gates }
        : { mode, router: settings.router, ...candidateList, ...topK, ...gates };
  }
}

export function completionRequest(
  settings: PlaygroundSettings,
  mode: RoutingMode,
  target: ModelTarget,
  candidates: string[],
): Schemas['CompletionRequest'] {
  const routing = routingFor(settings, mode, target, candidates);
  return {
    model: settings.model,
    prompt: settings.prompt,
    max_tokens: settings.maxTokens,
    temperature: settings.temperature,
    ...(routing ? { routing } : {}),
  };
}

/** The version of a composition name that the gateway serves: its newest one not archived. */
export function servedComposition(
  compositions: Schemas['Composition'][],
  name: string,
): Schemas['Composition'] | undefined {
  return compositions
    .filter((c) => c.name === name && c.status !== 'archived')
    .reduce<Schemas['Composition'] | undefined>(
      (newest, c) => (!newest || c.version > newest.version ? c : newest),
      undefined,
    );
}
