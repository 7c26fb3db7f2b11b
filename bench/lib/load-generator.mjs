// Open-loop load, the way vLLM's serving benchmark makes it: requests arrive as a Poisson
// process at a set rate whatever the server is doing, each with its own prompt and output
// length and an adapter drawn by Zipf; every token's arrival is timed. The driver is injected
// (`send(request, { onToken })`), so the same load runs the engine in-process and the gateway
// over HTTP. Times are seconds; a run's clock starts at its first scheduled arrival.
import { percentile } from './engine-common.mjs';

/** Goodput's default service-level objective: first token within 1 s, the request's own p99 inter-token gap within 100 ms. */
export const DEFAULT_SLO = { ttft_s: 1, itl_p99_s: 0.1 };

/** Ranks 0..n-1 with P(k) ∝ 1/(k+1)^s. */
export function zipfSampler(n, s, random) {
  const cumulative = [];
  let total = 0;
  for (let k = 0; k < n; k++) cumulative.push((total += 1 / (k + 1) ** s));
  return () => {
    const u = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Arrival times of `count` requests at `rate` per second: exponential gaps of mean 1/rate (a Poisson process), the first at 0. */
export function poissonArrivals(count, rate, random) {
  const arrivals = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    arrivals.push(at);
    // 1 - u lies in (0, 1]: the logarithm stays finite.
    at += -Math.log(1 - random()) / rate;
  }
  return arrivals;
}

/**
 * Lengths drawn from a mixture: `mix` is [{ weight, min, max }], a component picked by weight,
 * then a length uniform over its integers min..max.
 */
export function lengthSampler(mix, random) {
  const total = mix.reduce((sum, part) => sum + part.weight, 0);
  return () => {
    let u = random() * total;
    const part = mix.find((p) => (u -= p.weight) < 0) ?? mix.at(-1);
    return part.min + Math.floor(random() * (part.max - part.min + 1));
  };
}

/**
 * The requests of one run: [{ index, arrival, prompt, outputTokens, adapter }], `prompt` printable
 * ASCII codes (byte tokens, and text for an HTTP API), `adapter` a Zipf rank among `adapters`.
 * Arrivals, lengths and adapters come from three streams of one seed, so the same seed gives
 * the same requests at every rate; only their arrival times scale.
 */
export function workload({ requests, rate, promptMix, outputMix, adapters, zipfS, seed }, seededRandom) {
  const arrivals = poissonArrivals(requests, rate, seededRandom(seed));
  const lengths = seededRandom(seed + 1);
  const promptLength = lengthSampler(promptMix, lengths);
  const outputLength = lengthSampler(outputMix, lengths);
  const adapter = zipfSampler(adapters, zipfS, seededRandom(seed + 2));
  // Prompts differ from their first token on, so no two share a prefix a cache could reuse.
  const text = seededRandom(seed + 3);
  return arrivals.map((arrival, index) => ({
    index,
    arrival,
    prompt: Array.from({ length: promptLength() }, () => 32 + Math.floor(text() * 95)),
    outputTokens: outputLength(),
    adapter: adapter(),
  }));
}

/**
 * Sends each request at its arrival time, never waiting for earlier ones (open loop).
 * `send(request, { onToken })` resolves to { outputTokens } once the request has finished;
 * `onToken()` is called as each token (or streamed piece) arrives. Returns one record per
 * request, times from the run's start: { request, sent, tokenTimes, finish, outputTokens }.
 * Throws after every request has settled if any failed: a run with failures measured less
 * than it says.
 */
export async function runOpenLoop(requests, send, clock = seconds) {
  const start = clock();
  const pending = [];
  for (const request of requests) {
    const wait = start + request.arrival - clock();
    if (wait > 0) await sleep(wait);
    pending.push(timedSend(request, send, clock, start));
  }
  return settled(await Promise.allSettled(pending));
}

/**
 * Closed loop: `concurrency` clients, each sending its next request as its last one finishes.
 * Its completed requests per second are the server's saturation throughput for this mix.
 */
export async function runClosedLoop(requests, send, concurrency, clock = seconds) {
  const start = clock();
  const queue = [...requests];
  const results = [];
  const client = async () => {
    for (let request = queue.shift(); request; request = queue.shift())
      results.push(
        await timedSend(request, send, clock, start).then(
          (value) => ({ status: 'fulfilled', value }),
          (reason) => ({ status: 'rejected', reason }),
        ),
      );
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const records = settled(results);
  const duration = Math.max(...records.map((r) => r.finish));
  return { records, duration_s: duration, throughput_rps: records.length / duration };
}

async function timedSend(request, send, clock, start) {
  const sent = clock() - start;
  const tokenTimes = [];
  const { outputTokens } = await send(request, { onToken: () => tokenTimes.push(clock() - start) });
  return { request, sent, tokenTimes, finish: clock() - start, outputTokens };
}

function settled(results) {
  const failures = results.filter((r) => r.status === 'rejected');
  if (failures.length)
    throw new Error(
      `${failures.length} of ${results.length} requests failed, the first: ${failures[0].reason?.stack ?? failures[0].reason}`,
    );
  return results.map((r) => r.value);
}

/**
 * Fails unless the run measured what it says. With `exactLengths` (the API forces the
 * length) every request generated exactly the output length drawn and streamed one piece
 * per token. Without, a request may stop early, even before its first token (the counts used
 * are the ones the server reports, never more than asked), but the run as a whole must have
 * generated at least a quarter of the tokens asked, or it measured mostly prompts.
 */
export function checkMeasured(records, { requests, exactLengths }) {
  const problems = [];
  if (records.length !== requests) problems.push(`${records.length} of ${requests} requests completed`);
  for (const { request, tokenTimes, outputTokens } of records) {
    const name = `request ${request.index}`;
    if (exactLengths && (outputTokens !== request.outputTokens || tokenTimes.length !== outputTokens))
      problems.push(
        `${name} generated ${outputTokens} tokens and streamed ${tokenTimes.length}, ${request.outputTokens} asked`,
      );
    if (!exactLengths && (outputTokens > request.outputTokens || tokenTimes.length > outputTokens))
      problems.push(
        `${name} generated ${outputTokens} tokens in ${tokenTimes.length} pieces, at most ${request.outputTokens} asked`,
      );
  }
  const generated = records.reduce((sum, r) => sum + r.outputTokens, 0);
  const asked = records.reduce((sum, r) => sum + r.request.outputTokens, 0);
  if (!exactLengths && generated < asked / 4) problems.push(`${generated} tokens generated of ${asked} asked`);
  if (problems.length) throw new Error(`the load run measured less than it says: ${problems.slice(0, 5).join('; ')}`);
}

/** A request's inter-token gaps: seconds between consecutive streamed tokens. */
export function tokenGaps(record) {
  return record.tokenTimes.slice(1).map((t, i) => t - record.tokenTimes[i]);
}

/**
 * Whether a request met the SLO: its first token in time, and the p99 of its own gaps (none:
 * met) within bound. A request that streamed nothing met it if its (empty) answer came in
 * the time allowed for a first token.
 */
export function meetsSlo(record, slo) {
  const ttft = (record.tokenTimes[0] ?? record.finish) - record.request.arrival;
  const gaps = tokenGaps(record);
  return ttft <= slo.ttft_s && (gaps.length === 0 || percentile(gaps, 0.99) <= slo.itl_p99_s);
}

/**
 * One rate point's figures from its records, latencies measured from each request's scheduled
 * arrival (a late send is the server's delay too, and is not hidden): throughput over the
 * run (first arrival to last finish), TTFT (of the requests that streamed a token),
 * inter-token gaps over all requests' gaps pooled, end-to-end latency, and goodput, the
 * requests per second that met the SLO.
 */
export function servingMetrics(records, slo) {
  const duration = Math.max(...records.map((r) => r.finish));
  const outputTokens = records.reduce((sum, r) => sum + r.outputTokens, 0);
  const streamed = records.filter((r) => r.tokenTimes.length);
  const ttft = streamed.map((r) => r.tokenTimes[0] - r.request.arrival);
  const itl = records.flatMap(tokenGaps);
  const e2e = records.map((r) => r.finish - r.request.arrival);
  const good = records.filter((r) => meetsSlo(r, slo)).length;
  const lastArrival = Math.max(...records.map((r) => r.request.arrival));
  const at = (values, p) => (values.length ? percentile(values, p) : null);
  return {
    completed: records.length,
    // The rate the drawn arrivals realized (a few dozen Poisson arrivals stray from the rate asked).
    arrival_rps: lastArrival > 0 ? (records.length - 1) / lastArrival : null,
    duration_s: duration,
    throughput_rps: records.length / duration,
    output_tps: outputTokens / duration,
    ttft_p50_s: at(ttft, 0.5),
    ttft_p99_s: at(ttft, 0.99),
    itl_p50_s: at(itl, 0.5),
    itl_p99_s: at(itl, 0.99),
    e2e_p50_s: at(e2e, 0.5),
    e2e_p99_s: at(e2e, 0.99),
    goodput_rps: good / duration,
    slo_attainment: good / records.length,
    output_tokens: outputTokens,
    empty_outputs: records.length - streamed.length,
    requested_output_tokens: records.reduce((sum, r) => sum + r.request.outputTokens, 0),
    // How late the generator itself sent requests (its event loop busy): large values mean the offered load was lower.
    send_lag_p99_s: at(
      records.map((r) => r.sent - r.request.arrival),
      0.99,
    ),
  };
}

function seconds() {
  return performance.now() / 1000;
}

function sleep(s) {
  return new Promise((resolve) => setTimeout(resolve, s * 1000));
}
