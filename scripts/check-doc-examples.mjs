#!/usr/bin/env node
// Checks the documentation (README.md and docs/*.md), run by `npm run docs:check` as part of `npm test`:
//
// 1. Every ```ts block is a complete module that type checks against the sources. The blocks are
//    written to .doc-examples/<page>-<n>.ts (gitignored) and compiled by one `tsc -p tsconfig.docs.json`
//    run, in which `nest-sessions` and its subpaths resolve to src/ (see that file's `paths`).
//    Errors are reported by page, block and Markdown line.
// 2. Every code block names its language, so no TypeScript hides in an unlabelled block: ts is
//    compiled; sh, sql, text and the like are not.
// 3. Every relative link points at a file that exists, and every #anchor at a heading of that page.
//
// Plain Node ESM, no dependencies besides the project's TypeScript.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, '.doc-examples');
const tsconfig = 'tsconfig.docs.json';
const TS_LANGS = new Set(['ts', 'typescript']);

/** README.md, then docs/*.md in name order: repository-relative paths. */
function pages() {
  const docs = existsSync(join(root, 'docs'))
    ? readdirSync(join(root, 'docs'))
        .filter((name) => name.endsWith('.md'))
        .sort()
        .map((name) => `docs/${name}`)
    : [];
  return ['README.md', ...docs];
}

/**
 * The fenced code blocks of a Markdown text: `{ lang, line, code }` with `line` the 1-based line of
 * the opening fence. Fences inside list items (indented) and block quotes (`> `) are found too; their
 * indentation / quote prefix is removed from the code.
 */
function codeBlocks(text) {
  const lines = text.split(/\r?\n/);
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^((?:\s*>)*\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]);
    if (!open) continue;
    const [, prefix, fence, lang] = open;
    const code = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = stripPrefix(lines[j], prefix);
      if (line.trimStart().startsWith(fence) && line.trim().replace(new RegExp(`^${fence[0]}+`), '') === '') break;
      code.push(line);
    }
    blocks.push({ lang: lang.toLowerCase(), line: i + 1, code: code.join('\n') + '\n' });
    i = j;
  }
  return blocks;
}

/** Remove a fence's indentation or block-quote prefix from a line inside its block. */
function stripPrefix(line, prefix) {
  if (prefix.includes('>')) return line.replace(/^(?:\s*>)+ ?/, '');
  let n = 0;
  while (n < prefix.length && line[n] === ' ') n++;
  return line.slice(n);
}

/** GitHub's heading anchors of a Markdown text (lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats). */
function anchors(text) {
  const seen = new Map();
  const result = new Set();
  let inFence = false;
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*(?:>\s*)*(`{3,}|~{3,})/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = heading[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** Relative links of a Markdown text outside code: `{ target, line }`. */
function links(text) {
  const found = [];
  let inFence = false;
  text.split(/\r?\n/).forEach((line, index) => {
    if (/^\s*(?:>\s*)*(`{3,}|~{3,})/.test(line)) inFence = !inFence;
    if (inFence) return;
    const prose = line.replace(/`[^`]*`/g, '');
    for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, …
      found.push({ target, line: index + 1 });
    }
  });
  return found;
}

const problems = [];
const texts = new Map(pages().map((page) => [page, readFileSync(join(root, page), 'utf8')]));

// Links and anchors.
const anchorCache = new Map();
const anchorsOf = (page) => {
  if (!anchorCache.has(page)) anchorCache.set(page, anchors(texts.get(page) ?? readFileSync(join(root, page), 'utf8')));
  return anchorCache.get(page);
};
for (const [page, text] of texts) {
  for (const { target, line } of links(text)) {
    const [path, anchor] = target.split('#');
    const file = path ? relative(root, resolve(root, dirname(page), decodeURIComponent(path))) : page;
    if (!existsSync(join(root, file))) {
      problems.push(`${page}:${line}: link to ${target}: ${file} does not exist`);
      continue;
    }
    if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(file).has(decodeURIComponent(anchor))) {
      problems.push(`${page}:${line}: link to ${target}: ${file} has no heading with the anchor #${anchor}`);
    }
  }
}

// Code blocks. Files are rewritten only when their text changed and stale ones removed, so the
// compiler's incremental information (.doc-examples/.tsbuildinfo) stays valid between runs.
mkdirSync(outDir, { recursive: true });
/** example file name -> { page, block, line } */
const examples = new Map();
const writeIfChanged = (file, text) => {
  if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeFileSync(file, text);
};
for (const [page, text] of texts) {
  let n = 0;
  for (const block of codeBlocks(text)) {
    if (block.lang === '') {
      problems.push(`${page}:${block.line}: a code block without a language; use ts (compiled) or sh, sql, text, …`);
      continue;
    }
    if (!TS_LANGS.has(block.lang)) continue;
    n++;
    const name = `${page.replace(/\.md$/, '').replace(/[/\\]/g, '-')}-${n}.ts`;
    writeIfChanged(join(outDir, name), block.code);
    examples.set(name, { page, block: n, line: block.line });
  }
}
for (const name of readdirSync(outDir)) {
  if (name.endsWith('.ts') && !examples.has(name)) rmSync(join(outDir, name));
}
if (examples.size === 0) problems.push('no ```ts block found in README.md or docs/*.md');

// One compiler run over every block.
let compilerFailed = false;
if (examples.size > 0) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', tsconfig, '--pretty', 'false'], { cwd: root, encoding: 'utf8' });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
  if (run.status !== 0) {
    compilerFailed = true;
    // Each diagnostic starts with `file(line,col): error …`; the lines after it, up to the next one,
    // continue its message. Diagnostics in an example are given its page, block and Markdown line.
    const inExamples = [];
    const elsewhere = [];
    const blocksWithErrors = new Set();
    let current = elsewhere;
    for (const line of output.split('\n')) {
      const at = /^\.doc-examples[/\\]([^(]+)\((\d+),(\d+)\): (.*)$/.exec(line);
      const example = at && examples.get(at[1]);
      if (example) {
        blocksWithErrors.add(at[1]);
        const mdLine = example.line + Number(at[2]);
        inExamples.push(
          `${example.page}:${mdLine}:${at[3]} (${example.page} block ${example.block}, the \`\`\`ts at line ${example.line}; .doc-examples/${at[1]}): ${at[4]}`,
        );
        current = inExamples;
      } else if (/^\S.*\(\d+,\d+\): /.test(line) || /^error /.test(line)) {
        elsewhere.push(line);
        current = elsewhere;
      } else {
        current.push(line);
      }
    }
    if (inExamples.length > 0) {
      problems.push(`type errors in ${blocksWithErrors.size} documentation example(s):\n${inExamples.join('\n')}`);
    }
    if (inExamples.length === 0 && elsewhere.length === 0) {
      problems.push(`the TypeScript compiler failed (exit ${run.status ?? run.signal}): ${run.error?.message ?? (output || 'no output')}`);
    }
    if (elsewhere.length > 0) {
      problems.push(
        `type errors outside the examples (in the sources or the compiler configuration; \`npm run typecheck\` reports those in src/ too):\n${elsewhere.join('\n')}`,
      );
    }
  }
}

if (problems.length > 0) {
  console.error(`docs:check failed:\n${problems.map((p) => `- ${p}`).join('\n')}`);
  if (compilerFailed) console.error(`\nThe blocks as compiled are in .doc-examples/ (compiled with ${tsconfig}).`);
  process.exit(1);
}
console.log(`docs:check: ${examples.size} TypeScript examples in ${texts.size} pages type check; links and anchors resolve.`);
