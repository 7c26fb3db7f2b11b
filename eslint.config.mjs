import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

// Boundaries (../shared/STYLE.md): apps may use libs, libs never use apps; the engine
// stays framework-free; the dashboard speaks to the platform only through the SDK.
const FRAMEWORK_PACKAGES = ['@nestjs/*', '@prisma/*', 'bullmq', 'ioredis', 'fastify'];

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/generated/**', '.nx/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    plugins: { '@nx': nx },
    // Lets consistent-type-imports keep value imports that Nest's DI reads from decorator metadata.
    languageOptions: { parserOptions: { emitDecoratorMetadata: true, experimentalDecorators: true } },
    rules: {
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'scope:lib', onlyDependOnLibsWithTags: ['scope:lib'] },
            { sourceTag: 'scope:app', onlyDependOnLibsWithTags: ['scope:lib'] },
            // End-to-end tests drive the system through its API; the engine only writes their fixtures (checkpoints, tokenizers).
            { sourceTag: 'scope:e2e', onlyDependOnLibsWithTags: ['type:sdk', 'type:contracts', 'type:engine'] },
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:sdk', onlyDependOnLibsWithTags: [] },
            {
              sourceTag: 'type:engine',
              onlyDependOnLibsWithTags: ['type:contracts'],
              bannedExternalImports: FRAMEWORK_PACKAGES,
            },
            // Lifecycles: the database, the contracts and the blob store's interface, nothing that runs jobs or serves HTTP.
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:contracts', 'type:data', 'type:storage'] },
            { sourceTag: 'type:dashboard', onlyDependOnLibsWithTags: ['type:sdk'] },
          ],
        },
      ],
    },
  },
  {
    // Tests read loosely typed HTTP bodies; asserting on them is the point.
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', '**/testing/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
];
