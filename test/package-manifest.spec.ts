/**
 * The published package is only as correct as its manifest and its tarball: everything `src`
 * imports ships in `dist` (and in the generated .d.ts files), so it must be a declared runtime or
 * peer dependency, every `exports` entry must resolve from an installed copy of the tarball, and
 * the sample app must consume the package the way a user does, by name.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

const root = fileURLToPath(new URL('..', import.meta.url));
const packTestDir = join(root, '.pack-test');

interface Manifest {
  name: string;
  main?: string;
  types?: string;
  exports: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
const optionalPeers = Object.entries(manifest.peerDependenciesMeta ?? {})
  .filter(([, meta]) => meta.optional === true)
  .map(([name]) => name);

/** Names for the `.` entry that users rely on; if one disappears, the public API broke. */
const ROOT_EXPORTS = ['SessionModule', 'MemoryStore', 'FileStore', 'Session', 'Flash'];

/** Path segments that mark a dependency's internals rather than its public entry points. */
const INTERNAL_SEGMENTS = new Set(['dist', 'lib', 'src', 'build', 'esm', 'cjs', 'internal', 'internals']);

interface ImportRef {
  specifier: string;
  /** `import()` expressions load lazily, so they may name optional peers. */
  dynamic: boolean;
}

/** Every module specifier a TypeScript or JavaScript file names: imports, re-exports, `import()` and `import('x').T` types. */
function importsOf(file: string): ImportRef[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const refs: ImportRef[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) refs.push({ specifier: node.moduleSpecifier.text, dynamic: false });
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      refs.push({ specifier: node.moduleReference.expression.text, dynamic: false });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteralLike(argument)) refs.push({ specifier: argument.text, dynamic: true });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      refs.push({ specifier: node.argument.literal.text, dynamic: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return refs;
}

/** Files under `dir` that `keep` accepts, skipping folders named in `skip`; absolute paths. */
function filesUnder(dir: string, keep: (file: string) => boolean, skip = ['node_modules', 'dist']): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((file) => !file.split(sep).some((segment) => skip.includes(segment)))
    .map((file) => join(dir, file))
    .filter(keep)
    .sort();
}

const isRelative = (specifier: string): boolean => specifier.startsWith('./') || specifier.startsWith('../');
const isBare = (specifier: string): boolean =>
  !isRelative(specifier) && !specifier.startsWith('/') && !/^[a-z][a-z0-9+.-]*:/i.test(specifier);

/** Split a bare specifier into its package name and subpath: `@a/b/c` → `@a/b` + `c`, `x/y` → `x` + `y`. */
function splitSpecifier(specifier: string): { name: string; subpath: string } {
  const segments = specifier.split('/');
  const size = specifier.startsWith('@') ? 2 : 1;
  return { name: segments.slice(0, size).join('/'), subpath: segments.slice(size).join('/') };
}

/** The installed manifest of dependency `name`, if it is installed. */
function dependencyManifest(name: string): { exports?: unknown } | undefined {
  const file = join(root, 'node_modules', name, 'package.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { exports?: unknown }) : undefined;
}

/**
 * Why a bare import reaches into a package's internals, or `undefined` when it names a public
 * entry point: the package root, or a subpath its `exports` lists by exact name (a `*` pattern
 * such as Nest's `./*` exposes every file and so says nothing about what is public).
 */
function internalImportReason(specifier: string): string | undefined {
  const { name, subpath } = splitSpecifier(specifier);
  if (subpath === '') return undefined;
  const internal = subpath.split('/').find((segment) => INTERNAL_SEGMENTS.has(segment));
  if (internal) return `${specifier}: "${internal}/" is a build or internal folder of ${name}`;
  const exportsField = dependencyManifest(name)?.exports;
  const listed = exportsField !== null && typeof exportsField === 'object' && Object.hasOwn(exportsField, `./${subpath}`);
  return listed ? undefined : `${specifier}: "./${subpath}" is not an entry point listed in ${name}'s exports`;
}

/** Problems with the bare (package) imports of `files`: undeclared packages and deep imports. */
function bareImportProblems(files: string[], base: string): string[] {
  const problems: string[] = [];
  for (const file of files) {
    for (const { specifier } of importsOf(file)) {
      if (!isBare(specifier) || isBuiltin(specifier)) continue;
      const where = relative(base, file);
      const { name } = splitSpecifier(specifier);
      if (!declared.has(name)) problems.push(`${where}: imports ${specifier}, but ${name} is not in dependencies or peerDependencies`);
      const reason = internalImportReason(specifier);
      if (reason) problems.push(`${where}: ${reason}`);
    }
  }
  return problems;
}

/**
 * Bare specifiers loaded as soon as `entry` is imported: follows static relative imports through
 * the compiled files and collects the package imports met on the way (`import()` is lazy, so it
 * is not followed).
 */
function eagerPackageImports(entry: string): { packages: Set<string>; visited: Set<string> } {
  const packages = new Set<string>();
  const visited = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (visited.has(file)) continue;
    visited.add(file);
    for (const { specifier, dynamic } of importsOf(file)) {
      if (dynamic) continue;
      if (isRelative(specifier)) queue.push(resolve(dirname(file), specifier));
      else if (isBare(specifier) && !isBuiltin(specifier)) packages.add(splitSpecifier(specifier).name);
    }
  }
  return { packages, visited };
}

/** Why an import of a sample-app file does not use the package as a user would, or `undefined`. */
function sampleImportProblem(file: string, specifier: string): string | undefined {
  const sampleDir = join(root, 'sample-app');
  if (isBuiltin(specifier)) return undefined;
  if (isBare(specifier)) {
    const { name, subpath } = splitSpecifier(specifier);
    if (name === manifest.name && subpath !== '' && !Object.hasOwn(manifest.exports, `./${subpath}`)) {
      return `${specifier} is not an entry point of ${manifest.name}`;
    }
    return undefined;
  }
  if (!isRelative(specifier)) return `${specifier} is an absolute or URL import`;
  const target = resolve(dirname(file), specifier);
  for (const folder of ['src', 'dist']) {
    const inside = relative(join(root, folder), target);
    if (!inside.startsWith('..')) return `${specifier} reaches into ${folder}/; import from '${manifest.name}' instead`;
  }
  // Spec files may share the repository's test support; the app itself must stand alone.
  if (!file.endsWith('.spec.ts') && relative(sampleDir, target).startsWith('..')) {
    return `${specifier} leaves sample-app/`;
  }
  return undefined;
}

describe('package manifest', () => {
  it('declares every package that src imports, and imports only public entry points', () => {
    const sources = filesUnder(join(root, 'src'), (file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'));
    expect(sources.length).toBeGreaterThan(0);
    expect(bareImportProblems(sources, root)).toEqual([]);
  });

  it('has import checks that catch undeclared packages and deep imports', () => {
    expect(splitSpecifier('@nestjs/common/interfaces')).toEqual({ name: '@nestjs/common', subpath: 'interfaces' });
    expect(splitSpecifier('rxjs/operators')).toEqual({ name: 'rxjs', subpath: 'operators' });
    expect(internalImportReason('@nestjs/common')).toBeUndefined();
    expect(internalImportReason('rxjs/operators')).toBeUndefined();
    // Nest exposes every file through "./*", which must not count as public.
    expect(internalImportReason('@nestjs/common/interfaces')).toMatch(/not an entry point/);
    expect(internalImportReason('@nestjs/core/internal')).toMatch(/internal/);
    expect(internalImportReason('rxjs/dist/esm/index.js')).toMatch(/dist/);
    expect(isBuiltin('node:fs') && isBuiltin('fs')).toBe(true);
  });

  it('lists package.json in exports and gives every other entry types first and default last', () => {
    expect(manifest.exports['./package.json']).toBe('./package.json');
    const entries = Object.entries(manifest.exports).filter(([subpath]) => subpath !== './package.json');
    expect(entries.map(([subpath]) => subpath)).toContain('.');
    for (const [subpath, target] of entries) {
      expect(subpath === '.' || subpath.startsWith('./'), `${subpath} must be "." or start with "./"`).toBe(true);
      expect(typeof target, `exports["${subpath}"] must be a conditions object`).toBe('object');
      const conditions = Object.keys(target as Record<string, string>);
      // TypeScript takes the first matching condition, and Node never looks past "default".
      expect(conditions[0], `exports["${subpath}"]: "types" must come first`).toBe('types');
      expect(conditions.at(-1), `exports["${subpath}"]: "default" must come last`).toBe('default');
      for (const path of Object.values(target as Record<string, string>)) expect(path).toMatch(/^\.\//);
    }
    // Tools that predate "exports" read main and types; they must point at the same files.
    const dot = manifest.exports['.'] as Record<string, string>;
    expect(manifest.main).toBe(dot['default']);
    expect(manifest.types).toBe(dot['types']);
  });

  describe('the packed tarball, installed', () => {
    let tarballDir: string;
    let installed: string;
    let packedFiles: string[];

    beforeAll(async () => {
      if (!existsSync(join(root, 'dist', 'index.js')) || !existsSync(join(root, 'dist', 'index.d.ts'))) {
        throw new Error('dist/ is missing: run `npm run build` before this test (`npm test` builds first).');
      }
      tarballDir = await mkdtemp(join(tmpdir(), 'nest-sessions-pack-'));
      const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tarballDir], {
        cwd: root,
        maxBuffer: 16 * 1024 * 1024,
      });
      // npm may print notices before the JSON on some versions; the JSON array starts at the first "[".
      const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
      packedFiles = packed.files.map((file) => file.path);

      await rm(packTestDir, { recursive: true, force: true });
      installed = join(packTestDir, 'node_modules', manifest.name);
      await mkdir(installed, { recursive: true });
      // Its own package.json stops Node from resolving the name to the repository itself (self-reference).
      writeFileSync(join(packTestDir, 'package.json'), JSON.stringify({ name: 'pack-test', private: true, type: 'module' }));
      await run('tar', ['-xzf', join(tarballDir, packed.filename), '-C', installed, '--strip-components=1']);
    });

    afterAll(async () => {
      await rm(packTestDir, { recursive: true, force: true });
      if (tarballDir) await rm(tarballDir, { recursive: true, force: true });
    });

    it('ships the build and the manifest, but no specs, sources or sample app', () => {
      expect(packedFiles).toContain('package.json');
      expect(packedFiles).toContain('dist/index.js');
      expect(packedFiles.filter((file) => /\.spec\.|^src\/|^test\/|^sample-app\//.test(file))).toEqual([]);
    });

    it('holds only dist/, the manifest, README, CHANGELOG and the licence text', () => {
      const topLevel = [...new Set(packedFiles.map((file) => file.split('/')[0]))].sort();
      expect(topLevel).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'dist', 'package.json']);
      expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    });

    it('imports only declared packages and files that are in the tarball', () => {
      const shipped = filesUnder(installed, (file) => /\.(js|d\.ts)$/.test(file), ['node_modules']);
      expect(shipped.length).toBeGreaterThan(0);
      expect(bareImportProblems(shipped, installed)).toEqual([]);
      const missing: string[] = [];
      for (const file of shipped) {
        for (const { specifier } of importsOf(file)) {
          if (!isRelative(specifier)) continue;
          let target = resolve(dirname(file), specifier);
          if (file.endsWith('.d.ts')) target = target.replace(/\.js$/, '.d.ts');
          if (!existsSync(target)) missing.push(`${relative(installed, file)}: ${specifier}`);
        }
      }
      expect(missing).toEqual([]);
    });

    it('resolves every exports entry by name, with its types in the tarball', async () => {
      for (const [subpath, target] of Object.entries(manifest.exports)) {
        const specifier = manifest.name + subpath.slice(1);
        if (typeof target === 'object') {
          const types = target['types'];
          expect(existsSync(join(installed, types)), `${specifier}: types file ${types} is not in the tarball`).toBe(true);
        }
        const script = [
          'const specifier = process.argv[1];',
          "const json = specifier.endsWith('.json');",
          "const module = json ? await import(specifier, { with: { type: 'json' } }) : await import(specifier);",
          'console.log(JSON.stringify({ url: import.meta.resolve(specifier), names: Object.keys(module), name: json ? module.default.name : undefined }));',
        ].join('\n');
        const { stdout } = await run(process.execPath, ['--input-type=module', '--no-warnings', '-e', script, specifier], {
          cwd: packTestDir,
        });
        const result = JSON.parse(stdout) as { url: string; names: string[]; name?: string };
        // Resolving into the repository instead would mean the tarball was never exercised.
        expect(relative(installed, fileURLToPath(result.url)).startsWith('..'), `${specifier} resolved to ${result.url}`).toBe(false);
        expect(result.names.length, `${specifier} exports nothing`).toBeGreaterThan(0);
        if (subpath === '.') expect(result.names).toEqual(expect.arrayContaining(ROOT_EXPORTS));
        if (subpath === './package.json') expect(result.name).toBe(manifest.name);
      }
    });

    it('does not load any optional peer from the root entry', () => {
      const { packages, visited } = eagerPackageImports(join(installed, 'dist', 'index.js'));
      // The walk must reach the whole graph, or an optional peer deep inside could hide.
      expect(visited).toContain(join(installed, 'dist', 'stores', 'file.store.js'));
      expect(packages).toContain('@nestjs/common');
      expect([...packages].filter((name) => optionalPeers.includes(name))).toEqual([]);
    });
  });
});

describe('sample app', () => {
  const sampleDir = join(root, 'sample-app');
  const files = filesUnder(sampleDir, (file) => file.endsWith('.ts'));

  it(`imports ${manifest.name} by name, never from src/ or dist/`, () => {
    const problems = files.flatMap((file) =>
      importsOf(file).flatMap(({ specifier }) => {
        const problem = sampleImportProblem(file, specifier);
        return problem ? [`${relative(root, file)}: ${problem}`] : [];
      }),
    );
    expect(problems).toEqual([]);
    const appFiles = files.filter((file) => !file.endsWith('.spec.ts'));
    expect(appFiles.some((file) => importsOf(file).some(({ specifier }) => specifier === manifest.name))).toBe(true);
  });

  it('has import checks that catch relative imports of the library', () => {
    const app = join(sampleDir, 'app.module.ts');
    const spec = join(sampleDir, 'sample-app.spec.ts');
    expect(sampleImportProblem(app, manifest.name)).toBeUndefined();
    expect(sampleImportProblem(app, './views.js')).toBeUndefined();
    expect(sampleImportProblem(app, 'node:crypto')).toBeUndefined();
    expect(sampleImportProblem(app, '../src/index.js')).toMatch(/src\//);
    expect(sampleImportProblem(app, '../dist/index.js')).toMatch(/dist\//);
    expect(sampleImportProblem(app, `${manifest.name}/dist/index.js`)).toMatch(/not an entry point/);
    expect(sampleImportProblem(app, '../test/support/test-app.js')).toMatch(/leaves sample-app/);
    expect(sampleImportProblem(spec, '../test/support/test-app.js')).toBeUndefined();
    expect(sampleImportProblem(spec, '../src/session/session.js')).toMatch(/src\//);
  });
});
