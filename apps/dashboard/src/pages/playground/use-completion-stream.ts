import type { Schemas } from '@tessera/sdk';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useApi } from '../../api.js';
import { streamCompletion, type CompletionChunk } from './stream-completion.js';

export interface CompletionRun {
  text: string;
  routing: Schemas['RoutingTrace'] | null;
  usage: Schemas['Usage'] | null;
  finishReason: 'stop' | 'length' | null;
  running: boolean;
  error: unknown;
}

const IDLE: CompletionRun = { text: '', routing: null, usage: null, finishReason: null, running: false, error: null };

function withChunk(run: CompletionRun, chunk: CompletionChunk): CompletionRun {
  const choice = chunk.choices[0];
  return {
    ...run,
    text: run.text + (choice?.text ?? ''),
    // The last trace wins: only the end knows per-token gates and mean-gate weights.
    routing: chunk.routing ?? run.routing,
    usage: chunk.usage ?? run.usage,
    finishReason: choice?.finish_reason ?? run.finishReason,
  };
}

/** Runs one streamed completion at a time; a new run or leaving the page cancels the one before. */
export function useCompletionStream() {
  const api = useApi();
  const [run, setRun] = useState<CompletionRun>(IDLE);
  const current = useRef<AbortController | null>(null);
  useEffect(() => () => current.current?.abort(), []);

  const start = useCallback(
    async (request: Schemas['CompletionRequest']) => {
      current.current?.abort();
      const controller = new AbortController();
      current.current = controller;
      setRun({ ...IDLE, running: true });
      try {
        for await (const chunk of streamCompletion(api, request, controller.signal)) {
          if (controller.signal.aborted) break;
          setRun((previous) => withChunk(previous, chunk));
        }
      } catch (error) {
        if (!controller.signal.aborted) setRun((previous) => ({ ...previous, error }));
      } finally {
        if (current.current === controller) setRun((previous) => ({ ...previous, running: false }));
      }
    },
    [api],
  );
  const stop = useCallback(() => current.current?.abort(), []);
  return { run, start, stop };
}
