import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { TesseraProblemError, unwrap, type Schemas } from '@tessera/sdk';
import { useApi } from '../../api.js';
import { Facts } from '../../components/Facts.js';
import { LineChart } from '../../components/LineChart.js';
import { Page } from '../../components/Page.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { ProgressBar } from '../../components/ProgressBar.js';
import { StatusBadge } from '../../components/StatusBadge.js';
import { formatDateTime, formatLoss, formatNumber } from '../../format.js';
import { Link } from '../../router.js';
import { useAdapterNames } from '../../use-adapter-names.js';
import { useBaseModelName } from '../../use-base-models.js';
import { useDatasetNames } from '../../use-datasets.js';
import { EventsLog } from './EventsLog.js';
import { isActive } from './job-status.js';
import { lossSeries, progressFromEvents } from './loss-series.js';
import { useFineTuneEvents } from './use-fine-tune-events.js';
import './fine-tunes.css';

const POLL_MS = 1500;

/** #/fine-tunes/{id}: live progress, loss curves, events, Cancel while it can still stop. */
export function FineTuneDetail({ jobId }: { jobId: string }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const baseModelName = useBaseModelName();
  const adapterName = useAdapterNames();
  const datasetName = useDatasetNames();
  const queryKey = ['fine-tunes', jobId];
  const job = useQuery({
    queryKey,
    queryFn: () => unwrap(api.GET('/v1/fine-tunes/{job_id}', { params: { path: { job_id: jobId } } })),
    // Polled as well as streamed: the job row has progress and metrics the events do not repeat.
    refetchInterval: (query) =>
      query.state.error instanceof TesseraProblemError || (query.state.data && !isActive(query.state.data.status))
        ? false
        : POLL_MS,
  });
  const stream = useFineTuneEvents(jobId, () => void queryClient.invalidateQueries({ queryKey }));
  const cancel = useMutation({
    mutationFn: () => unwrap(api.POST('/v1/fine-tunes/{job_id}/cancel', { params: { path: { job_id: jobId } } })),
    onSuccess: (cancelled) => {
      queryClient.setQueryData(queryKey, cancelled);
      // The detail is set from the answer; only the list needs reading again.
      void queryClient.invalidateQueries({ queryKey: ['fine-tunes'], exact: true });
    },
  });

  const data = job.data;
  const active = data ? isActive(data.status) : false;
  // The stream's newest step is fresher than the polled row while the job runs.
  const progress = data
    ? Math.max(data.progress, active ? (progressFromEvents(stream.events) ?? 0) : data.progress)
    : 0;
  return (
    <Page
      title={`Fine-tune ${jobId}`}
      error={job.error}
      loading={job.isPending}
      actions={
        active ? (
          <button type="button" className="danger" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
            {cancel.isPending ? 'Cancelling…' : 'Cancel'}
          </button>
        ) : null
      }
    >
      {data ? (
        <>
          <ProblemMessage error={cancel.error} />
          <Facts
            facts={[
              { label: 'Status', value: <StatusBadge status={data.status} />, testId: 'fine-tune-status' },
              { label: 'Base model', value: baseModelName(data.base_model_id) },
              {
                label: 'Dataset',
                value: data.dataset_id ? (
                  <Link to={`/datasets/${data.dataset_id}`}>{datasetName(data.dataset_id)}</Link>
                ) : (
                  '—'
                ),
              },
              {
                label: 'Adapter',
                value: data.adapter_id ? (
                  <Link to={`/adapters/${data.adapter_id}`}>{adapterName(data.adapter_id)}</Link>
                ) : (
                  '—'
                ),
                testId: 'fine-tune-adapter',
              },
              { label: 'Created', value: formatDateTime(data.created_at) },
              { label: 'Finished', value: formatDateTime(data.finished_at) },
            ]}
          />
          <div className="fine-tune-progress" data-testid="fine-tune-progress">
            <ProgressBar value={progress} label="Training" />
          </div>
          {data.error ? (
            <div role="alert" className="problem">
              <strong>The fine-tune failed.</strong> {data.error.message}
            </div>
          ) : null}
          <LineChart
            testId="loss-chart"
            title="Loss"
            xLabel="step"
            yLabel="loss (nats/token)"
            series={lossSeries(stream.events, data.metrics?.base_validation_loss)}
          />
          {data.metrics ? <MetricsTable metrics={data.metrics} /> : null}
          {data.partitions ? <PartitionsTable partitions={data.partitions} /> : null}
          <HyperparametersLine hyperparameters={data.hyperparameters} validationSplit={data.validation_split} />
          {stream.error ? <ProblemMessage error={stream.error} /> : null}
          <EventsLog events={stream.events} />
        </>
      ) : null}
    </Page>
  );
}

function MetricsTable({ metrics }: { metrics: Schemas['FineTuneMetrics'] }) {
  return (
    <table aria-label="Metrics" data-testid="fine-tune-metrics" className="metrics">
      <tbody>
        <tr>
          <th scope="row">Steps</th>
          <td>{formatNumber(metrics.steps)}</td>
          <th scope="row">Train loss</th>
          <td>{formatLoss(metrics.train_loss)}</td>
        </tr>
        <tr>
          <th scope="row">Validation loss</th>
          <td>{formatLoss(metrics.validation_loss)}</td>
          <th scope="row">Base model&apos;s validation loss</th>
          <td>{formatLoss(metrics.base_validation_loss)}</td>
        </tr>
        <tr>
          <th scope="row">Validation accuracy</th>
          <td>{metrics.validation_accuracy === null ? '—' : `${(metrics.validation_accuracy * 100).toFixed(1)}%`}</td>
          <th scope="row">Throughput</th>
          <td>
            {formatNumber(metrics.tokens_per_second)} tokens/s over {formatNumber(metrics.seconds, 1)} s
          </td>
        </tr>
      </tbody>
    </table>
  );
}

function PartitionsTable({ partitions }: { partitions: NonNullable<Schemas['FineTune']['partitions']> }) {
  const adapterName = useAdapterNames();
  return (
    <section aria-labelledby="partitions-heading">
      <h2 id="partitions-heading">Partitions</h2>
      <table aria-label="Partitions">
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Adapter</th>
            <th scope="col">Access group</th>
            <th scope="col">Documents</th>
          </tr>
        </thead>
        <tbody>
          {partitions.map((partition) => (
            <tr key={partition.job_id}>
              <td>
                <Link to={`/fine-tunes/${partition.job_id}`}>{partition.job_id}</Link>
              </td>
              <td>
                <Link to={`/adapters/${partition.adapter_id}`}>{adapterName(partition.adapter_id)}</Link>
              </td>
              <td>{partition.access_group_id ?? '—'}</td>
              <td>{formatNumber(partition.documents)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function HyperparametersLine({
  hyperparameters: h,
  validationSplit,
}: {
  hyperparameters: Schemas['Hyperparameters'];
  validationSplit: number;
}) {
  return (
    <p className="muted">
      rank {h.rank} · alpha {h.alpha} · learning rate {h.learning_rate} ·{' '}
      {h.max_steps ? `${h.max_steps} steps` : `${h.epochs} epoch(s)`} · batch {h.batch_size} · sequence{' '}
      {h.max_sequence_length} · seed {h.seed} · validation {Math.round(validationSplit * 100)}%
    </p>
  );
}
