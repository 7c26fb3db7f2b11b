import type { Problem } from '@tessera/contracts';

/** The routes OpenAI clients call: their errors also carry OpenAI's `error` object. */
const OPENAI_ROUTES = new Set(['/v1/models', '/v1/completions', '/v1/chat/completions']);

/** OpenAI's error types by status; anything else the caller got wrong is an invalid request. */
const OPENAI_TYPES: Record<number, string> = {
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'api_error',
};

export function isOpenAiRoute(path: string): boolean {
  return OPENAI_ROUTES.has(path.replace(/\/+$/, ''));
}

/**
 * OpenAI's `{ message, type, param, code }` for a problem: the message is the problem's detail
 * (or title), `param` the first field named wrong (without its body. prefix), `code` the
 * problem's kind.
 */
export function openAiError(problem: Problem): NonNullable<Problem['error']> {
  const field = problem.errors?.[0]?.field;
  return {
    message: problem.detail ?? problem.title,
    type: OPENAI_TYPES[problem.status] ?? 'invalid_request_error',
    param: field ? field.replace(/^body\./, '') : null,
    code: problem.type.replace(/^\/problems\//, ''),
  };
}
