import { useState, type FormEvent } from 'react';
import { useSignIn } from '../api.js';
import { ProblemMessage } from '../components/ProblemMessage.js';

/** Signs in with an API key, checked against GET /v1/me before it is kept. */
export function SignIn() {
  const { signIn, clientFor } = useSignIn();
  const [apiKey, setApiKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [checking, setChecking] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setChecking(true);
    setError(null);
    try {
      await clientFor(apiKey.trim()).GET('/v1/me');
      signIn(apiKey.trim());
    } catch (caught) {
      setError(caught);
    } finally {
      setChecking(false);
    }
  }

  return (
    <main className="sign-in">
      <form onSubmit={submit}>
        <h1>Tessera</h1>
        <p className="muted">Sign in with a tenant API key (npm start prints the demo tenant's).</p>
        <label>
          API key
          <input
            name="apiKey"
            type="password"
            autoComplete="off"
            placeholder="tsk_…"
            value={apiKey}
            onChange={(e) => setApiKey(e.target.value)}
            required
          />
        </label>
        <button type="submit" disabled={checking || apiKey.trim() === ''}>
          {checking ? 'Checking…' : 'Sign in'}
        </button>
        <ProblemMessage error={error} />
      </form>
    </main>
  );
}
