// WordNet's glosses (Debian's wordnet-base package, extracted at use, never committed): the demo
// base model's training text, and the held-out text its quantized forms are measured on.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** WordNet's data files: installed, else from apt's cache, else downloaded with apt-get download. */
export function wordnetDataDir() {
  if (existsSync('/usr/share/wordnet/data.noun')) return '/usr/share/wordnet';
  const work = mkdtempSync(path.join(os.tmpdir(), 'wordnet-'));
  const cached = readdirSync('/var/cache/apt/archives', { withFileTypes: true }).find((f) =>
    /^wordnet-base_.*\.deb$/.test(f.name),
  );
  let deb = cached && path.join('/var/cache/apt/archives', cached.name);
  if (!deb) {
    execFileSync('apt-get', ['download', 'wordnet-base'], { cwd: work, stdio: 'inherit' });
    deb = path.join(
      work,
      readdirSync(work).find((f) => f.endsWith('.deb')),
    );
  }
  execFileSync('dpkg-deb', ['-x', deb, path.join(work, 'root')]);
  return path.join(work, 'root/usr/share/wordnet');
}

/** Each synset's gloss (definition; "examples"), the text after ' | ' on its data line. */
export function glosses(dir) {
  const out = [];
  for (const part of ['noun', 'verb', 'adj', 'adv']) {
    for (const line of readFileSync(path.join(dir, `data.${part}`), 'latin1').split('\n')) {
      if (line.startsWith('  ') || !line.includes(' | ')) continue; // the licence header
      out.push(line.slice(line.indexOf(' | ') + 3).trim());
    }
  }
  return out;
}
