import { PROBLEM_KINDS, type ProblemFieldError, type ProblemKind } from '@tessera/contracts';

/** An error the client caused or must know about; the filters render it as problem+json. */
export class ProblemException extends Error {
  readonly status: number;

  constructor(
    readonly kind: ProblemKind,
    readonly detail?: string,
    readonly errors?: ProblemFieldError[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? PROBLEM_KINDS[kind].title);
    this.status = PROBLEM_KINDS[kind].status;
  }

  static notFound(what: string, id: string): ProblemException {
    return new ProblemException('not-found', `No ${what} with id ${id}`);
  }
}
