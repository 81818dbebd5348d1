// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Layers (docs/architecture.md): processes are spawned only by src/apply/exec.ts, and the pure
// layers (compute/, tools/) never reach the effects. test/architecture.test.ts checks the same
// over the whole import graph, and that it has no cycle.
const spawnPaths = [
  { name: 'child_process', message: 'Spawn processes only through src/apply/exec.ts (execa).' },
  { name: 'node:child_process', message: 'Spawn processes only through src/apply/exec.ts (execa).' },
];
const execaPath = { name: 'execa', message: 'Only src/apply/exec.ts spawns processes; take a Runner.' };
const pureLayers = {
  group: ['**/apply/**', '**/observe/**', '**/sync/**', '**/serve/**', '**/cli/**', '**/config/**'],
  message: 'src/compute and src/tools are pure: they import only compute/, tools/ and libraries (see docs/architecture.md).',
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      'no-restricted-imports': ['error', { paths: [...spawnPaths, execaPath] }],
    },
  },
  {
    files: ['src/apply/exec.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: spawnPaths }] },
  },
  {
    files: ['src/compute/**/*.ts', 'src/tools/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [...spawnPaths, execaPath], patterns: [pureLayers] }] },
  },
  {
    // Tests may start the real entry point as a user would; node:test's test() promises are
    // tracked by the runner; `x!` on a value a test just asserted is clearer than a guard.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'describe', 'it', 'suite'], package: 'node:test' }] }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
