export { isBlobReferenced, referencedBlobs, releaseBlob } from './blob-release.js';
export { canMove, IllegalTransition, INITIAL, sourcesOf, TRANSITIONS } from './transitions.js';
export type { Lifecycle, StatusOf } from './transitions.js';
export {
  createJob,
  moveAdapterVersions,
  moveCompositions,
  moveDeletion,
  moveDocuments,
  moveJob,
  moveWebhookDelivery,
} from './movers.js';
export type { JobStatusEvent, Moved, MoveOptions } from './movers.js';
export { endFineTune, failCompose, isNewestComposeJob } from './fine-tunes.js';
export { recordWebhookEvent, recordWebhookEvents } from './webhook-events.js';
export type { RecordedEvent, WebhookNote } from './webhook-events.js';
