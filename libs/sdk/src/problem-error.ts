import type { components } from './generated/schema.js';

export type Problem = components['schemas']['Problem'];

/** A non-2xx answer of the API, carrying its RFC 9457 problem details. */
export class TesseraProblemError extends Error {
  readonly status: number;
  /** Stable error kind, e.g. `/problems/not-found`: switch on this, not on `title`. */
  readonly type: string;
  readonly requestId: string | undefined;
  readonly fieldErrors: NonNullable<Problem['errors']>;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly problem: Problem,
    response: Response,
  ) {
    super(`${problem.status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ''}`);
    this.name = 'TesseraProblemError';
    this.status = problem.status;
    this.type = problem.type;
    this.requestId = problem.request_id ?? response.headers.get('x-request-id') ?? undefined;
    this.fieldErrors = problem.errors ?? [];
    const retryAfter = response.headers.get('retry-after');
    this.retryAfterSeconds = retryAfter ? Number(retryAfter) : undefined;
  }

  /** Reads a failed response as a problem, also when a proxy answered with something else. */
  static async fromResponse(response: Response): Promise<TesseraProblemError> {
    const text = await response.text();
    let problem: Problem;
    try {
      problem = JSON.parse(text) as Problem;
      if (typeof problem?.type !== 'string') throw new Error('not a problem document');
    } catch {
      problem = {
        type: 'about:blank',
        title: response.statusText || 'Error',
        status: response.status,
        detail: text.slice(0, 500),
      };
    }
    return new TesseraProblemError(problem, response);
  }
}
