import { useQuery } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import { useState } from 'react';
import { useApi } from '../../api.js';
import { BarChart, type BarRow } from '../../components/BarChart.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { formatNumber } from '../../format.js';

const WINDOWS = [
  { key: '24h', label: 'Last 24 hours', hours: 24 },
  { key: '7d', label: 'Last 7 days', hours: 24 * 7 },
  { key: '30d', label: 'Last 30 days', hours: 24 * 30 },
] as const;

type Measure = 'requests' | 'tokens';

/** Inference per adapter over a window, as bars of requests or of prompt + completion tokens. */
export function UsageCard() {
  const api = useApi();
  const [windowKey, setWindowKey] = useState<(typeof WINDOWS)[number]['key']>('7d');
  const [measure, setMeasure] = useState<Measure>('requests');
  const hours = WINDOWS.find((w) => w.key === windowKey)!.hours;
  const usage = useQuery({
    queryKey: ['usage', windowKey],
    queryFn: () =>
      unwrap(
        api.GET('/v1/usage', { params: { query: { since: new Date(Date.now() - hours * 3_600_000).toISOString() } } }),
      ),
    refetchInterval: 30_000,
  });
  const usageRows = usage.data?.data ?? [];
  const rows: BarRow[] = usageRows.map((row) => ({
    label: row.adapter_id === null ? 'base model' : (row.adapter_name ?? row.adapter_id),
    values: measure === 'requests' ? [row.requests] : [row.prompt_tokens, row.completion_tokens],
  }));
  const totalRequests = usageRows.reduce((sum, row) => sum + row.requests, 0);

  return (
    <section className="card" aria-labelledby="usage-heading">
      <div className="card-header">
        <h2 id="usage-heading">Usage per adapter</h2>
        <div className="controls">
          <label className="inline">
            Window
            <select value={windowKey} onChange={(e) => setWindowKey(e.target.value as typeof windowKey)}>
              {WINDOWS.map((w) => (
                <option key={w.key} value={w.key}>
                  {w.label}
                </option>
              ))}
            </select>
          </label>
          <fieldset className="measure">
            <legend className="visually-hidden">Measure</legend>
            {(['requests', 'tokens'] as const).map((m) => (
              <label key={m} className="inline">
                <input
                  type="radio"
                  name="usage-measure"
                  value={m}
                  checked={measure === m}
                  onChange={() => setMeasure(m)}
                />
                {m === 'requests' ? 'Requests' : 'Tokens'}
              </label>
            ))}
          </fieldset>
        </div>
      </div>
      <ProblemMessage error={usage.error} />
      {usage.isPending ? <p className="muted">Loading…</p> : null}
      {usage.data && rows.length === 0 ? <p className="muted">No inference requests in this window.</p> : null}
      {rows.length > 0 ? (
        <>
          <BarChart
            testId="usage-chart"
            title={`${measure === 'requests' ? 'Requests' : 'Tokens'} per adapter`}
            rows={rows}
            segments={measure === 'requests' ? ['requests'] : ['prompt tokens', 'completion tokens']}
          />
          <p className="muted">{formatNumber(totalRequests)} requests in all.</p>
        </>
      ) : null}
    </section>
  );
}
