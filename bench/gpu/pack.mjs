// Packs what the GPU machine needs and does not have (issue 20) into bench/gpu/bundle/, for
// `bench/gpu/run.sh` there: this node binary (xz), the built engine with its runtime packages
// and onnxruntime-node's Linux x64 library (one tar.xz), and Debian's Vulkan loader (.deb) for
// the WebGPU provider. The machine takes the repository plus carried paths up to 64 MiB, so the
// bundle must stay under BUNDLE_LIMIT beside the working tree; the packer says how large it is.
//   node bench/gpu/pack.mjs        then, on the GPU machine: bash bench/gpu/run.sh
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, ROOT, step } from '../../infra/scripts/lib/run.mjs';

const BUNDLE = path.join(ROOT, 'bench/gpu/bundle');
/** What may travel beside the working tree (64 MiB in all, the repository about 11). */
const BUNDLE_LIMIT = 50 * 2 ** 20;
/** Dependencies only an installer uses: the engine never loads them. */
const INSTALL_ONLY = new Set(['adm-zip', 'global-agent']);
/** onnxruntime-node's binaries for other systems (288 MB in all) stay behind. */
const ORT_BINARIES = 'bin/napi-v6/linux/x64';

build();
rmSync(BUNDLE, { recursive: true, force: true });
const staging = path.join(BUNDLE, 'staging');
const modules = path.join(staging, 'node_modules');
mkdirSync(modules, { recursive: true });

step('packing the engine and the packages it loads');
const packages = runtimeClosure(path.join(ROOT, 'libs/engine'));
for (const [name, dir] of packages) copyPackage(name, dir, path.join(modules, name));
execFileSync('tar', ['-cJf', path.join(BUNDLE, 'runtime.tar.xz'), '-C', staging, 'node_modules'], {
  env: { ...process.env, XZ_OPT: '-6 -T0' },
});
rmSync(staging, { recursive: true, force: true });

step(`packing node ${process.version}`);
writeFileSync(
  path.join(BUNDLE, 'node.xz'),
  execFileSync('xz', ['-9', '-T0', '-c', process.execPath], { maxBuffer: 2 ** 30 }),
);

step("Debian's Vulkan loader (libvulkan1), for the WebGPU provider");
const vulkan = path.join(BUNDLE, 'vulkan');
mkdirSync(vulkan);
try {
  execFileSync('apt-get', ['download', 'libvulkan1'], { cwd: vulkan, stdio: 'pipe' });
} catch (error) {
  console.warn(
    `apt-get download libvulkan1 failed (${String(error).split('\n')[0]}): run.sh uses the machine's loader if it has one`,
  );
}

const sizes = readdirSync(BUNDLE, { recursive: true })
  .map((entry) => path.join(BUNDLE, entry))
  .filter((file) => statSync(file).isFile())
  .map((file) => [path.relative(BUNDLE, file), statSync(file).size]);
const total = sizes.reduce((sum, [, bytes]) => sum + bytes, 0);
for (const [file, bytes] of sizes) console.log(`  ${file.padEnd(40)} ${(bytes / 2 ** 20).toFixed(1).padStart(6)} MiB`);
console.log(
  `  ${'total'.padEnd(40)} ${(total / 2 ** 20).toFixed(1).padStart(6)} MiB (limit ${BUNDLE_LIMIT / 2 ** 20})`,
);
if (total > BUNDLE_LIMIT) throw new Error(`the bundle is ${total} bytes, over ${BUNDLE_LIMIT}: it would not travel`);

/** Every package `root` loads at run time, by name: its dependencies, theirs, and so on (npm's layout). */
function runtimeClosure(root) {
  const found = new Map([['@tessera/engine', root]]);
  const pending = [root];
  while (pending.length) {
    const dir = pending.pop();
    const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    for (const name of Object.keys(manifest.dependencies ?? {})) {
      if (INSTALL_ONLY.has(name) || found.has(name)) continue;
      const at = packageDir(name, dir);
      found.set(name, at);
      pending.push(at);
    }
  }
  return found;
}

/** Where Node would find package `name` from `from`: the nearest node_modules up the tree that holds it. */
function packageDir(name, from) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === path.dirname(dir)) throw new Error(`package ${name} (needed from ${from}) is not installed`);
  }
}

/**
 * A package without its nested node_modules (copied on their own), source maps, TypeScript and,
 * for the engine, anything but its build; onnxruntime-node keeps only its Linux x64 binaries.
 */
function copyPackage(name, from, to) {
  cpSync(from, to, {
    recursive: true,
    dereference: true,
    filter: (source) => {
      const relative = path.relative(from, source);
      if (/(^|\/)(node_modules|\.git)(\/|$)|\.(map|ts|tsbuildinfo)$/.test(relative)) return false;
      if (name === '@tessera/engine')
        return relative === '' || relative === 'package.json' || /^dist(\/|$)/.test(relative);
      if (name === 'onnxruntime-node' && relative.startsWith('bin'))
        return ORT_BINARIES.startsWith(relative) || relative.startsWith(ORT_BINARIES);
      return true;
    },
  });
}
