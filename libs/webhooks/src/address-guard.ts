import { lookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Resolves a host name to every address it has (the system resolver unless a test gives its own). */
export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Why a webhook may not be sent to this address, or null. Only the public unicast Internet is
 * allowed: every special-purpose range ipaddr.js classifies (IANA's IPv4 and IPv6 registries:
 * private, loopback, link-local, carrier-grade NAT, multicast, broadcast, reserved, benchmarking,
 * site-local, unique-local, NAT64, 6to4, Teredo, …) is refused, and an IPv4-mapped IPv6 address
 * is judged as the IPv4 address it carries.
 */
export function addressProblem(address: string): string | null {
  const range = nonPublicRange(address);
  return range ? `${address} is a ${range} address, not a public one` : null;
}

/** The special-purpose range an address is in, or null for public unicast. */
function nonPublicRange(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'malformed';
  const range = ipaddr.process(address).range();
  return range === 'unicast' ? null : range;
}

/** Where a webhook goes: the URL, and the one address it was checked at and will be connected to. */
export interface WebhookTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

/**
 * Parses the URL (WHATWG, which also normalises forms like `0x7f.1` or `2130706433`), resolves
 * its host once and checks every address it resolves to (unless private addresses are allowed,
 * for tests and closed networks). The answer pins the first address: the delivery connects to
 * it and to nothing a later resolution might say (DNS rebinding).
 */
export async function resolveWebhookTarget(
  url: string,
  allowPrivate: boolean,
  resolve: Resolver = systemResolver,
): Promise<WebhookTarget | { problem: string }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { problem: 'not a URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return { problem: 'only http and https URLs can receive webhooks' };
  // WHATWG keeps IPv6 literals in brackets.
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  let addresses: string[];
  try {
    addresses = ipaddr.isValid(host) ? [host] : await resolve(host);
  } catch {
    return { problem: `${host} does not resolve` };
  }
  if (addresses.length === 0) return { problem: `${host} does not resolve` };
  if (!allowPrivate) {
    for (const address of addresses) {
      const range = nonPublicRange(address);
      if (!range) continue;
      return {
        problem:
          address === host
            ? addressProblem(address)!
            : `${host} resolves to ${address}, a ${range} address, not a public one`,
      };
    }
  }
  const address = addresses[0]!;
  return { url: parsed, address, family: ipaddr.parse(address).kind() === 'ipv4' ? 4 : 6 };
}

/** Why a webhook URL may not be called, or null (what endpoint creation checks). */
export async function webhookUrlProblem(
  url: string,
  allowPrivate: boolean,
  resolve?: Resolver,
): Promise<string | null> {
  const target = await resolveWebhookTarget(url, allowPrivate, resolve);
  return 'problem' in target ? target.problem : null;
}

/** What came back from one webhook POST: the status and the start of the body. */
export interface WebhookResponse {
  statusCode: number;
  excerpt: string;
}

/**
 * POSTs to a resolved target, connecting only to its checked address (the host name still
 * goes in the Host header and in TLS's server name, so certificates are checked as usual).
 * Redirects are not followed; at most `maxExcerpt` bytes of the answer are kept.
 */
export function postToTarget(
  target: WebhookTarget,
  body: string,
  headers: Record<string, string>,
  options: { timeoutMs: number; maxExcerpt: number },
): Promise<WebhookResponse> {
  // Node asks with `all` when it may try several addresses: there is only the checked one.
  const pinned: LookupFunction = (_host, lookupOptions, callback) => {
    if ((lookupOptions as { all?: boolean }).all)
      (callback as unknown as (e: null, a: object[]) => void)(null, [
        { address: target.address, family: target.family },
      ]);
    else callback(null, target.address, target.family);
  };
  const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(
      target.url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: pinned,
        signal: AbortSignal.timeout(options.timeoutMs),
      },
      (response: IncomingMessage) => {
        let excerpt = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          excerpt += chunk;
          if (excerpt.length >= options.maxExcerpt) response.destroy();
        });
        const done = () =>
          resolve({ statusCode: response.statusCode ?? 0, excerpt: excerpt.slice(0, options.maxExcerpt) });
        response.on('end', done);
        response.on('close', done);
        response.on('error', done);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
