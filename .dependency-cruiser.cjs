// Import-cycle check for `npm run lint` (issue 11: no import cycle anywhere, type-only imports
// included). dependency-cruiser rather than import-x's no-cycle, because no-cycle skips
// `import type` and dependency-cruiser counts it (tsPreCompilationDeps).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module reaches itself again through its imports (type-only imports count).',
      from: {},
      to: { circular: true },
    },
    {
      // An import the resolver cannot follow is an edge the cycle check cannot see.
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve to a file or package: the cycle check would miss it.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // test/package/fixtures are compiled inside the pack test's consumer project, against the packed package.
    exclude: { path: '^(dist|node_modules|\\.bench-out|test/package/fixtures)/' },
    // Count `import type` and type-only re-exports as edges: they are cycles for a reader too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      // The package's own `larder-source` condition points at src/ (as tsconfig's customConditions).
      conditionNames: ['larder-source', 'import', 'types', 'node', 'default'],
      exportsFields: ['exports'],
      mainFields: ['types', 'main'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
