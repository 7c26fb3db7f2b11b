import { useQueryClient } from '@tanstack/react-query';
import { createTesseraClient, TesseraProblemError, type TesseraApi } from '@tessera/sdk';
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';

const KEY_STORAGE = 'tessera.apiKey';

export interface Session {
  api: TesseraApi;
  apiKey: string;
  /** The gateway's origin: the dashboard is served by it, or proxied to it by Vite. */
  baseUrl: string;
  signOut(): void;
}

interface ApiState {
  session: Session | null;
  /** A client for a key not yet kept: sign-in checks the key with it first. */
  clientFor(apiKey: string): TesseraApi;
  signIn(apiKey: string): void;
}

const ApiContext = createContext<ApiState | null>(null);

/**
 * Holds the API key for this browser tab (sessionStorage: closing the tab signs out). Signing
 * in or out empties the query cache, so one key never sees what another key loaded; a 401 on
 * any query (the key was revoked or expired) signs out.
 */
export function ApiProvider({
  children,
  baseUrl = window.location.origin,
  fetch,
}: {
  children: ReactNode;
  baseUrl?: string;
  fetch?: typeof globalThis.fetch;
}) {
  const queryClient = useQueryClient();
  const [apiKey, setApiKey] = useState<string | null>(() => sessionStorage.getItem(KEY_STORAGE));
  const state = useMemo<ApiState>(() => {
    const signIn = (key: string) => {
      queryClient.clear();
      sessionStorage.setItem(KEY_STORAGE, key);
      setApiKey(key);
    };
    const signOut = () => {
      queryClient.clear();
      sessionStorage.removeItem(KEY_STORAGE);
      setApiKey(null);
    };
    const clientFor = (key: string) => createTesseraClient({ baseUrl, apiKey: key, ...(fetch ? { fetch } : {}) });
    const session = apiKey ? { api: clientFor(apiKey), apiKey, baseUrl, signOut } : null;
    return { session, clientFor, signIn };
  }, [apiKey, baseUrl, fetch, queryClient]);
  const signOut = state.session?.signOut;
  useEffect(() => {
    if (!signOut) return;
    return queryClient.getQueryCache().subscribe((event) => {
      if (
        event.type === 'updated' &&
        event.action.type === 'error' &&
        event.action.error instanceof TesseraProblemError &&
        event.action.error.status === 401
      )
        signOut();
    });
  }, [queryClient, signOut]);
  return <ApiContext.Provider value={state}>{children}</ApiContext.Provider>;
}

function useApiState(): ApiState {
  const state = useContext(ApiContext);
  if (!state) throw new Error('useApi needs an <ApiProvider> above it');
  return state;
}

export const useSignIn = () => {
  const { signIn, clientFor } = useApiState();
  return { signIn, clientFor };
};

/** The signed-in session; pages render only inside <RequireSession>, so it is always there. */
export function useSession(): Session {
  const { session } = useApiState();
  if (!session) throw new Error('no session: render pages inside the signed-in app');
  return session;
}

export const useApi = (): TesseraApi => useSession().api;

export const useOptionalSession = () => useApiState().session;
