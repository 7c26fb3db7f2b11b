import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The Prisma models whose status only the movers write. */
const LIFECYCLE_MODELS = ['job', 'adapterVersion', 'composition', 'deletionRequest', 'document', 'webhookDelivery'];
const WRITE = new RegExp(`\\.(${LIFECYCLE_MODELS.join('|')})\\.(update|updateMany|upsert)\\(`, 'g');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (['node_modules', 'dist', 'generated'].includes(entry)) return [];
    if (statSync(full).isDirectory()) return sources(full);
    return /\.ts$/.test(entry) && !/\.(spec|int-spec|e2e-spec)\.ts$/.test(entry) ? [full] : [];
  });
}

/** The argument text of the call whose `(` is at `open`. */
function callArguments(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return text.slice(open + 1, i);
  }
  return text.slice(open + 1);
}

/** Status writes in `text`: an update of a lifecycle model whose data sets `status`. */
export function statusWrites(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(WRITE)) {
    const args = callArguments(text, match.index + match[0].length - 1);
    // update/updateMany write `data`; upsert writes `update` and `create`.
    const written = ['data:', 'update:', 'create:']
      .map((key) => (args.includes(key) ? args.slice(args.indexOf(key)) : ''))
      .join(' ');
    if (/\bstatus\s*[:,}]/.test(written)) found.push(`${match[1]}.${match[2]}`);
  }
  return found;
}

describe('lifecycle statuses have one writer', () => {
  it('finds a status write where one is (the check itself works)', () => {
    assert.deepEqual(
      statusWrites("await tx.job.update({ where: { id }, data: { status: 'running', attempts: 1 } });"),
      ['job.update'],
    );
    assert.deepEqual(
      statusWrites('tx.composition.updateMany({ where: { id, status: "ready" }, data: { artifactBlob: null } })'),
      [],
    );
    assert.deepEqual(statusWrites('tx.document.updateMany({ where: { id }, data: { deletedAt, status } })'), [
      'document.updateMany',
    ]);
    assert.deepEqual(statusWrites("tx.job.upsert({ where: { id }, update: { status: 'failed' }, create: { id } })"), [
      'job.upsert',
    ]);
  });

  it('finds no status write outside libs/domain', () => {
    const files = [...sources(path.join(ROOT, 'apps')), ...sources(path.join(ROOT, 'libs'))].filter(
      (f) => !f.includes(`${path.sep}libs${path.sep}domain${path.sep}`),
    );
    assert.ok(files.length > 50, `scanned ${files.length} files`);
    const offenders = files.flatMap((file) =>
      statusWrites(readFileSync(file, 'utf8')).map((write) => `${path.relative(ROOT, file)}: ${write}`),
    );
    assert.deepEqual(offenders, [], 'write lifecycle statuses through the movers of @tessera/domain');
  });
});
