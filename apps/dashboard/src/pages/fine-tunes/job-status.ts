import type { Schemas } from '@tessera/sdk';

/** Queued or running: the job can still change, so pages follow it and offer Cancel. */
export const isActive = (status: Schemas['JobStatus']): boolean => status === 'queued' || status === 'running';
