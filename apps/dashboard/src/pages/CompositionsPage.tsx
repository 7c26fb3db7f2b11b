import { useState } from 'react';
import { Page } from '../components/Page.js';
import { CompositionDetail } from './compositions/CompositionDetail.js';
import { CompositionForm } from './compositions/CompositionForm.js';
import { CompositionList } from './compositions/CompositionList.js';

/** #/compositions lists them and creates new ones; #/compositions/<id> shows one. */
export function CompositionsPage({ compositionId }: { compositionId?: string }) {
  const [creating, setCreating] = useState(false);
  if (compositionId) return <CompositionDetail compositionId={compositionId} />;
  return (
    <Page
      title="Compositions"
      actions={
        <button
          type="button"
          className={creating ? 'secondary' : undefined}
          onClick={() => setCreating(!creating)}
          aria-expanded={creating}
        >
          {creating ? 'Close form' : 'New composition'}
        </button>
      }
    >
      {creating ? <CompositionForm /> : null}
      <CompositionList />
    </Page>
  );
}
