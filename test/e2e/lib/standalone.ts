/**
 * Turns one of the harness's self-contained TypeScript files (node built-ins only) into a Node
 * script that runs without ts-node: the `aws` stand-in on a build's PATH, the ECR proxy process.
 */
import * as fs from 'fs';
import * as ts from 'typescript';

export function writeNodeScript(source: string, target: string): void {
  const out = ts.transpileModule(fs.readFileSync(source, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: source,
  });
  fs.writeFileSync(target, `#!/usr/bin/env node\n${out.outputText}`, { mode: 0o755 });
  fs.chmodSync(target, 0o755);
}
