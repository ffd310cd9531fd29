import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CacheStrategy } from '../src';
import { buildCommand, markedOptions, runCommands } from './helpers/build-script';
import { renderBuildScript } from '../src/script/build-script';
import { PUSH_OUTPUT_ARRAY_REPRODUCIBLE, SET_SOURCE_DATE_EPOCH } from '../src/script/source-date';

/** reproducibleTimestamps (issue 10): SOURCE_DATE_EPOCH from the commit, executed in bash. */

/** A git repository whose one commit has the committer time `epoch`. */
function gitSource(epoch: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cib-sde-'));
  const env = { ...process.env, GIT_COMMITTER_DATE: `@${epoch} +0000`, GIT_AUTHOR_DATE: `@${epoch} +0000`, HOME: dir };
  for (const args of [['init', '-q'], ['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '--allow-empty', '-m', 'c']]) {
    expect(spawnSync('git', ['-C', dir, ...args], { env }).status).toBe(0);
  }
  return dir;
}

const SHOW = 'printf "[%s]" "${SOURCE_DATE_EPOCH-unset}"';

test('with git metadata: SOURCE_DATE_EPOCH is the commit time', () => {
  const src = gitSource(1700000123);
  const r = runCommands([SET_SOURCE_DATE_EPOCH, SHOW], { CIB_REPRODUCIBLE: 'true', CODEBUILD_SRC_DIR: src });
  expect(r.stdout).toContain('reproducible timestamps: SOURCE_DATE_EPOCH=1700000123 (the commit time)');
  expect(r.stdout).toMatch(/\[1700000123\]$/);
});

test('without git metadata (a zip artifact): not set, and the log says why and what to do', () => {
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'cib-sde-'));
  const r = runCommands([SET_SOURCE_DATE_EPOCH, SHOW], { CIB_REPRODUCIBLE: 'true', CODEBUILD_SRC_DIR: src, GIT_CEILING_DIRECTORIES: os.tmpdir() });
  expect(r.status).toBe(0);
  expect(r.stderr).toMatch(/^warning: reproducible timestamps: the source has no git metadata .*set SOURCE_DATE_EPOCH in the project/m);
  expect(r.stdout).toBe('[unset]');
});

test('a SOURCE_DATE_EPOCH the project sets is kept; off by default does nothing', () => {
  const src = gitSource(1700000123);
  expect(runCommands([SET_SOURCE_DATE_EPOCH, SHOW], { CIB_REPRODUCIBLE: 'true', CODEBUILD_SRC_DIR: src, SOURCE_DATE_EPOCH: '42' }).stdout).toMatch(/\[42\]$/);
  expect(runCommands([SET_SOURCE_DATE_EPOCH, SHOW], { CIB_REPRODUCIBLE: 'false', CODEBUILD_SRC_DIR: src }).stdout).toBe('[unset]');
});

test('registry strategy: rewrites the layer timestamps only with SOURCE_DATE_EPOCH set, and pushes nothing when the build does not push', () => {
  const out = 'printf "[%s]" "${CIB_OUTPUT[@]}"';
  const run = (env: Record<string, string>) => runCommands([`${PUSH_OUTPUT_ARRAY_REPRODUCIBLE} ${out}`], env).stdout;
  expect(run({ CIB_PUSH: 'true', CIB_REPRODUCIBLE: 'true', SOURCE_DATE_EPOCH: '5' })).toBe('[--output][type=image,push=true,rewrite-timestamp=true]');
  expect(run({ CIB_PUSH: 'true', CIB_REPRODUCIBLE: 'true' })).toBe('[--push]');
  expect(run({ CIB_PUSH: 'true', CIB_REPRODUCIBLE: 'false', SOURCE_DATE_EPOCH: '5' })).toBe('[--push]');
  expect(run({ CIB_PUSH: 'false', CIB_REPRODUCIBLE: 'true', SOURCE_DATE_EPOCH: '5' })).toBe('[]');
  expect(buildCommand(renderBuildScript(markedOptions({ strategy: CacheStrategy.registry() })))).toContain(PUSH_OUTPUT_ARRAY_REPRODUCIBLE);
});

test('the prop reaches the project variable CIB_REPRODUCIBLE', () => {
  expect(renderBuildScript(markedOptions()).environment.CIB_REPRODUCIBLE).toBe('false');
  expect(renderBuildScript(markedOptions({ reproducibleTimestamps: true })).environment.CIB_REPRODUCIBLE).toBe('true');
});
