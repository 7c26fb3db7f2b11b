import { serverSentEvents, TesseraProblemError, type Schemas } from '@tessera/sdk';
import { useEffect, useRef, useState } from 'react';
import { useApi } from '../../api.js';

const RECONNECT_MS = 2000;

export interface FineTuneEvents {
  events: Schemas['JobEvent'][];
  /**
   * The last failure to open or read the stream, cleared by the next event; or else the first
   * event that was not JSON, which stays (that event was skipped, and a reconnect skips it too).
   */
  error: unknown;
  /** The stream has ended with the job. */
  ended: boolean;
}

/**
 * A fine-tune's events, live: GET …/events as text/event-stream through the SDK's client
 * (EventSource cannot send the Bearer header). The gateway replays every event, streams new
 * ones, and ends the stream when the job ends; a dropped stream reopens after the last event
 * seen. `onStatus` runs after status events and at the end, so the caller can re-read the job.
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
    let unreadable: Error | null = null;
    let statusTimer: ReturnType<typeof setTimeout> | undefined;
    // An opening backlog replays several status events at once: the job is re-read once for them.
    const statusChanged = () => {
      clearTimeout(statusTimer);
      statusTimer = setTimeout(() => onStatusRef.current(), 0);
    };
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
          // One state update per event: React renders a chunk's events (the backlog) together.
          for await (const message of serverSentEvents(body, abort.signal)) {
            if (message.event === 'end') {
              setState((previous) => ({ ...previous, error: unreadable, ended: true }));
              statusChanged();
              return;
            }
            // The SSE id is the event's id: the cursor moves past an event even when it cannot be read.
            after = message.id ?? after;
            const event = parseJobEvent(message.data);
            if (!event) {
              unreadable ??= new Error(
                `An event of the stream (${message.id ?? 'no id'}) was not JSON: it was skipped.`,
              );
              setState((previous) => ({ ...previous, error: unreadable }));
              continue;
            }
            setState((previous) => ({ events: [...previous.events, event], error: unreadable, ended: false }));
            if (event.type === 'status') statusChanged();
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
    return () => {
      abort.abort();
      clearTimeout(statusTimer);
    };
  }, [api, jobId]);

  return state;
}

function parseJobEvent(data: string): Schemas['JobEvent'] | null {
  try {
    return JSON.parse(data) as Schemas['JobEvent'];
  } catch {
    return null;
  }
}
