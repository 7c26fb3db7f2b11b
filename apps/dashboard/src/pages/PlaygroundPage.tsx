import { useQuery } from '@tanstack/react-query';
import { unwrap, type Schemas } from '@tessera/sdk';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useApi } from '../api.js';
import { GateHeatmap } from '../components/GateHeatmap.js';
import { Page } from '../components/Page.js';
import { ProblemMessage } from '../components/ProblemMessage.js';
import { useCompositions } from './compositions/use-compositions.js';
import {
  completionRequest,
  DEFAULT_SETTINGS,
  servedComposition,
  MODE_LABELS,
  mixtureAdapters,
  modesFor,
  type ModelTarget,
  type PlaygroundSettings,
} from './playground/completion-request.js';
import { RoutingControls } from './playground/RoutingControls.js';
import { RoutingTrace } from './playground/RoutingTrace.js';
import { useCompletionStream } from './playground/use-completion-stream.js';
import './playground/playground.css';

const KIND_GROUPS: Array<{ kind: Schemas['Model']['tessera']['kind']; label: string }> = [
  { kind: 'base_model', label: 'Base models' },
  { kind: 'adapter', label: 'Adapters' },
  { kind: 'composition', label: 'Compositions' },
];

/** Runs completions in every routing mode and shows the stream, the routing and per-token gates. */
export function PlaygroundPage() {
  const api = useApi();
  const models = useQuery({ queryKey: ['models'], queryFn: () => unwrap(api.GET('/v1/models')) });
  // A composition's method fixes its mode; keys without the read scope cannot list them (then: none).
  const compositions = useCompositions();
  const [settings, setSettings] = useState<PlaygroundSettings>(DEFAULT_SETTINGS);
  const { run, start, stop } = useCompletionStream();
  const change = (part: Partial<PlaygroundSettings>) => setSettings((previous) => ({ ...previous, ...part }));
  // Run is disabled while a run goes and Stop leaves when it ends: focus moves to the button
  // that is there instead of falling to the page.
  const runButton = useRef<HTMLButtonElement>(null);
  const stopButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const lost = document.activeElement === document.body || document.activeElement === runButton.current;
    if (run.running && lost) stopButton.current?.focus();
    if (!run.running && (document.activeElement === document.body || document.activeElement === null))
      runButton.current?.focus();
  }, [run.running]);

  const available = models.data?.data ?? [];
  const picked = available.find((m) => m.id === settings.model) ?? available[0];
  const target: ModelTarget | undefined = picked && {
    kind: picked.tessera.kind,
    method: servedComposition(compositions.data ?? [], picked.id)?.method,
  };
  const modes = modesFor(target);
  const mode = modes.includes(settings.mode) ? settings.mode : modes[0]!;
  const candidates = available
    .filter((m) => m.tessera.kind === 'adapter' && m.tessera.base_model === picked?.tessera.base_model)
    .map((m) => m.id);
  const needsAdapters = target?.kind === 'base_model' && mode !== 'none';
  const ready =
    picked !== undefined &&
    settings.prompt !== '' &&
    !(needsAdapters && candidates.length === 0) &&
    !(mode === 'mixture' && target?.kind === 'base_model' && mixtureAdapters(settings.weights).length === 0);

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!picked || !target) return;
    void start(completionRequest({ ...settings, model: picked.id }, mode, target, candidates));
  }

  const gates = run.routing?.token_gates;
  return (
    <Page title="Playground" error={models.error} loading={models.isPending}>
      <div className="playground">
        <form className="stack card" onSubmit={submit} aria-label="Completion">
          <label>
            Model
            <select value={picked?.id ?? ''} onChange={(e) => change({ model: e.target.value })}>
              {KIND_GROUPS.map(({ kind, label }) => {
                const ofKind = available.filter((m) => m.tessera.kind === kind);
                return ofKind.length === 0 ? null : (
                  <optgroup key={kind} label={label}>
                    {ofKind.map((m) => (
                      <option key={m.id} value={m.id}>
                        {m.id}
                        {kind === 'base_model' ? '' : ` (on ${m.tessera.base_model})`}
                      </option>
                    ))}
                  </optgroup>
                );
              })}
            </select>
          </label>
          <label>
            Prompt
            <textarea
              value={settings.prompt}
              onChange={(e) => change({ prompt: e.target.value })}
              placeholder="mix 2 cups of flour with"
              required
            />
          </label>
          <label>
            Routing mode
            <select value={mode} onChange={(e) => change({ mode: e.target.value as PlaygroundSettings['mode'] })}>
              {modes.map((m) => (
                <option key={m} value={m}>
                  {MODE_LABELS[m]}
                </option>
              ))}
            </select>
          </label>
          {target ? (
            <RoutingControls
              mode={mode}
              target={target}
              settings={settings}
              candidates={candidates}
              onChange={change}
            />
          ) : null}
          <div className="row">
            <label>
              Max tokens
              <input
                type="number"
                min={1}
                max={4096}
                value={settings.maxTokens}
                onChange={(e) => change({ maxTokens: Number(e.target.value) })}
              />
            </label>
            <label>
              Temperature
              <input
                type="number"
                min={0}
                max={2}
                step="any"
                value={settings.temperature}
                onChange={(e) => change({ temperature: Number(e.target.value) })}
              />
            </label>
          </div>
          <div className="actions">
            <button type="submit" ref={runButton} disabled={!ready || run.running}>
              Run
            </button>
            {run.running ? (
              <button type="button" ref={stopButton} className="secondary" onClick={stop}>
                Stop
              </button>
            ) : null}
          </div>
        </form>
        <div>
          <h2>Output</h2>
          <pre className="completion-output" data-testid="completion-output" aria-live="polite" aria-busy={run.running}>
            {run.text}
          </pre>
          <div className="run-meta muted">
            {run.running ? <span>Streaming…</span> : null}
            {run.finishReason ? (
              <span>finished: {run.finishReason === 'length' ? 'max tokens reached' : 'stop'}</span>
            ) : null}
            {run.usage ? (
              <span>
                {run.usage.prompt_tokens} prompt + {run.usage.completion_tokens} completion tokens
              </span>
            ) : null}
          </div>
          <ProblemMessage error={run.error} />
          {run.routing ? <RoutingTrace trace={run.routing} /> : null}
          {gates && run.routing && !run.running ? (
            <GateHeatmap
              tokens={gates.tokens}
              adapters={run.routing.adapters.map((a) => a.name)}
              gates={gates.gates}
              {...(run.usage ? { promptTokens: run.usage.prompt_tokens } : {})}
            />
          ) : null}
        </div>
      </div>
    </Page>
  );
}
