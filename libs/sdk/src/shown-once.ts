/**
 * The secret of a creation's response: `CreatedApiKey`, `CreatedWebhookEndpoint`, or a
 * `CreatedTenant`'s `api_key`. Only the response to the original request carries it; an
 * idempotent replay (same Idempotency-Key) carries null, and then this throws.
 */
export function shownSecret(created: { secret: string | null }): string {
  if (created.secret === null)
    throw new Error('this response is an idempotent replay: its secret was shown only in the original response');
  return created.secret;
}
