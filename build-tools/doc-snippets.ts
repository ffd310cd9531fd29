/**
 * Compiles the TypeScript snippets of the docs/ pages the way `jsii-rosetta extract --strict --fail`
 * compiles the README's: same fixtures (rosetta/), same strict mode, against the compiled package,
 * and translated into every jsii language. jsii puts only the README into the assembly, so rosetta
 * never sees docs/; this script hands it each page as if it were the README. Exits 1 on any error.
 *
 *   ts-node --project test/tsconfig.json build-tools/doc-snippets.ts docs/*.md   (after jsii compile)
 */
import * as fs from 'fs';
import * as path from 'path';
import { RosettaTranslator } from 'jsii-rosetta';

// The functions `jsii-rosetta extract` itself uses to find and fixture snippets. jsii-rosetta does not
// export them (its package.json "exports"), so they are loaded by path from the installed (pinned) version.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const assemblies = require(path.join(path.dirname(require.resolve('jsii-rosetta/package.json')), 'lib', 'jsii', 'assemblies.js'));

/** The TypeScript snippets of one page, fixtured as rosetta fixtures the README's, located in the page. */
async function snippetsOf(loaded: any, file: string): Promise<any[]> {
  const page = {
    ...loaded,
    assembly: { ...loaded.assembly, readme: { markdown: fs.readFileSync(file, 'utf8') }, types: {}, submodules: {} },
  };
  const snippets: any[] = await assemblies.allTypeScriptSnippets([page]);
  // Named after the page in diagnostics (`docs/security.md-L12.ts`) rather than after the README.
  return snippets.map((s) => ({ ...s, location: { ...s.location, api: { api: 'file', fileName: file } } }));
}

async function main(files: string[]): Promise<void> {
  const [loaded] = assemblies.loadAssemblies(['.'], false);
  const snippets: any[] = [];
  for (const file of files) {
    const own = await snippetsOf(loaded, file);
    process.stdout.write(`${file}: ${own.length} TypeScript snippet(s)\n`);
    snippets.push(...own);
  }
  const translator = new RosettaTranslator({ includeCompilerDiagnostics: true, assemblies: [loaded.assembly] });
  const result = await translator.translateAll(snippets, { addToTablet: false });
  const errors = result.diagnostics.filter((d) => d.isError);
  for (const d of errors) process.stderr.write(`${d.formattedMessage}\n`);
  process.stdout.write(`${snippets.length} snippet(s) compiled and translated, ${errors.length} error(s)\n`);
  if (errors.length > 0) process.exitCode = 1;
}

void main(process.argv.slice(2));
