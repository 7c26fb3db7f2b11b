import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  DriverAdapterError,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';

type WasmBindings = typeof import('@prisma/schema-engine-wasm/schema_engine_bg');
export type SchemaEngine = Awaited<ReturnType<WasmBindings['SchemaEngine']['new']>>;

type WasmExports = Record<string, unknown>;
// Node has WebAssembly at run time; the ES2023 lib the project compiles against does not declare it.
const { WebAssembly } = globalThis as unknown as {
  WebAssembly: { instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: WasmExports } }> };
};

let bindings: Promise<WasmBindings> | undefined;

/**
 * Prisma's schema engine compiled to WebAssembly. The package is built for bundlers
 * (`import * as wasm from "./x.wasm"`), so Node instantiates the module by hand here.
 */
function loadBindings(): Promise<WasmBindings> {
  bindings ??= (async () => {
    const glue = (await import('@prisma/schema-engine-wasm/schema_engine_bg')) as WasmBindings & {
      __wbg_set_wasm(exports: WasmExports): void;
    };
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg').replace(/\.js$/, '.wasm');
    const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), {
      './schema_engine_bg.js': glue as never,
    });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue;
  })();
  return bindings;
}

/** An engine connected to `databaseUrl` through the pg driver adapter (no native binary). */
export async function openSchemaEngine(
  databaseUrl: string,
  schema: { path: string; content: string },
  log: (line: string) => void,
) {
  const { SchemaEngine } = await loadBindings();
  // Our own pool, so that closing it lets the process exit (the engine does not close it).
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const engine = await SchemaEngine.new(
    { datamodels: [[schema.path, schema.content]] },
    (message: string) => log(message),
    bindMigrationAwareSqlAdapterFactory(wholeScriptAdapterFactory(pool)),
  );
  return {
    engine,
    close: async () => {
      engine.free();
      await pool.end();
    },
  };
}

/**
 * The pg adapter runs a script by splitting it on ";", which breaks `DO $$ … $$` blocks and
 * function bodies, and runs the pieces one by one. Sending the script whole uses Postgres's
 * simple query protocol, as the native engine does: any SQL works, and a migration applies
 * atomically (one implicit transaction).
 */
function wholeScriptAdapterFactory(pool: pg.Pool): SqlMigrationAwareDriverAdapterFactory {
  const factory = new PrismaPg(pool);
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => {
      const adapter = await factory.connect();
      adapter.executeScript = async (script: string) => {
        try {
          await pool.query(script);
        } catch (error) {
          throw asDriverAdapterError(error);
        }
      };
      return adapter;
    },
    connectToShadowDb: () => factory.connectToShadowDb(),
  };
}

/** The engine shows Postgres's own message only for errors in the adapters' error shape. */
function asDriverAdapterError(error: unknown): DriverAdapterError {
  const e = error as Partial<pg.DatabaseError> & Error;
  return new DriverAdapterError({
    kind: 'postgres',
    code: e.code ?? 'XX000',
    severity: e.severity ?? 'ERROR',
    message: e.message,
    detail: e.detail,
    column: e.column,
    hint: e.hint,
  });
}
