import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '../../../..');

it('the committed OpenAPI document passes Redocly lint, recommended rules: 0 errors, 0 warnings', async () => {
  const cli = createRequire(import.meta.url).resolve('@redocly/cli/bin/cli.js');
  const lint = await promisify(execFile)(
    process.execPath,
    [cli, 'lint', 'apps/gateway/openapi.json', '--format=json'],
    {
      cwd: ROOT,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      maxBuffer: 64 * 2 ** 20,
    },
  ).catch((error: { stdout: string }) => error);
  const report = JSON.parse(lint.stdout.slice(lint.stdout.indexOf('{'))) as {
    totals: { errors: number; warnings: number; ignored: number };
    problems: { ruleId: string; message: string }[];
  };
  assert.deepEqual(
    report.problems.map((p) => `${p.ruleId}: ${p.message}`),
    [],
  );
  assert.equal(report.totals.errors + report.totals.warnings, 0);
});
