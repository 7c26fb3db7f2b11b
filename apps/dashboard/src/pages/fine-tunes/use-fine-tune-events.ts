import { TesseraProblemError, type Schemas } from '@tessera/sdk';
import { useEffect, useRef, useState } from 'react';
import { useApi } from '../../api.js';
import { readEventStream } from './read-event-stream.js';

const RECONNECT_MS = 2000;

export interface FineTuneEvents {
  events: Schemas['JobEvent'][];
  /** The last failure to open or read the stream; cleared by the next event. */
  error: unknown;
  /** The stream has ended with the job. */
  ended: boolean;
}

/**
 * A fine-tune's events, live: GET …/events as text/event-stream through the SDK's client
 * (EventSource cannot send the Bearer header). The gateway replays every event, streams new
 * ones, and ends the stream when the job ends; a dropped stream reopens after the last event
 * seen. `onStatus` runs on each status event and at the end, so the caller can re-read the job.
 */
export function useFineTuneEvents(jobId: string, onStatus: () => void): FineTuneEvents {
  const api = useApi();
  const [state, setState] = useState<FineTuneEvents>({ events: [], error: null, ended: false });
  const onStatusRef = useRef(onStatus);
  useEffect(() => {
    onStatusRef.current = onStatus;
  });

  useEffect(() => {
    const abort = new AbortController();
    setState({ events: [], error: null, ended: false });
    let after: string | undefined;
    async function follow() {
      while (!abort.signal.aborted) {
        try {
          const { data: body } = await api.GET('/v1/fine-tunes/{job_id}/events', {
            params: { path: { job_id: jobId }, query: after ? { after } : {} },
            headers: { accept: 'text/event-stream' },
            parseAs: 'stream',
            signal: abort.signal,
          });
          if (!body) throw new Error('the event stream had no body');
          for await (const batch of readEventStream(body)) {
            if (abort.signal.aborted) return;
            const events = batch.filter((message) => message.event !== 'end').map((message) => JSON.parse(message.data) as Schemas['JobEvent']);
            const ended = batch.some((message) => message.event === 'end');
            after = events.at(-1)?.id ?? after;
            setState((previous) => ({ events: [...previous.events, ...events], error: null, ended }));
            if (ended || events.some((event) => event.type === 'status')) onStatusRef.current();
            if (ended) return;
          }
        } catch (error) {
          if (abort.signal.aborted) return;
          setState((previous) => ({ ...previous, error }));
          // A 4xx (gone, not allowed) will answer the same again.
          if (error instanceof TesseraProblemError && error.status < 500) return;
        }
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
      }
    }
    void follow();
    return () => abort.abort();
  }, [api, jobId]);

  return state;
}
