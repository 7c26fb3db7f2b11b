import { AdapterDetail } from './adapters/AdapterDetail.js';
import { AdapterList } from './adapters/AdapterList.js';

/** #/adapters lists adapters; #/adapters/{id} shows its versions, their files, and archives it. */
export function AdaptersPage({ adapterId }: { adapterId?: string }) {
  return adapterId ? <AdapterDetail adapterId={adapterId} /> : <AdapterList />;
}
