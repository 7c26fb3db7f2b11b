export { createTesseraClient, listAll, MAX_PAGE_SIZE, paginate, unwrap } from './tessera-client.js';
export { serverSentEvents } from './server-sent-events.js';
export { shownSecret } from './shown-once.js';
export type { ServerSentEvent } from './server-sent-events.js';
export type { TesseraApi, TesseraClientOptions } from './tessera-client.js';
export { TesseraProblemError } from './problem-error.js';
export type { Problem } from './problem-error.js';
export type { components, operations, paths } from './generated/schema.js';

import type { components } from './generated/schema.js';
/** The API's named schemas: `Schemas['AccessGroup']`, `Schemas['CreatedApiKey']`, … */
export type Schemas = components['schemas'];
