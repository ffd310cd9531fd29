/** The buildah strategy's build-time check of `buildah --version`, executed in bash. */
import * as fc from 'fast-check';
import { CacheStrategy } from '../src';
import { runCases } from './helpers/bash-cases';
import { markedOptions, unguarded } from './helpers/build-script';
import { buildahVersionVerdict } from './helpers/buildah-version-model';
import { renderBuildScript } from '../src/script/build-script';
import { CHECK_BUILDAH_VERSION } from '../src/strategies/buildah-version';

/** A `buildah` that prints CIB_FAKE_OUTPUT for `--version` (and exits CIB_FAKE_STATUS). */
const FAKE_BUILDAH = 'buildah() { printf "%s\\n" "$CIB_FAKE_OUTPUT"; return "${CIB_FAKE_STATUS:-0}"; }';

function check(outputs: string[], allowOlder: boolean) {
  return runCases([FAKE_BUILDAH, CHECK_BUILDAH_VERSION],
    outputs.map((o) => ({ CIB_FAKE_OUTPUT: o, CIB_BUILDAH_ALLOW_OLDER: String(allowOlder) })), []);
}
/** ok / warn / fail from what a case did: the check command failed, or printed a warning. */
function verdict(r: { failed: number; stderr: string }): string {
  if (r.failed === 1) return 'fail';
  if (r.failed !== -1) throw new Error(`the fake buildah failed: ${r.stderr}`);
  return /^warning: /m.test(r.stderr) ? 'warn' : 'ok';
}

describe('buildah version check', () => {
  test('runs before the build, in pre_build, with or without install; the project says whether older versions are allowed', () => {
    // WHEN
    const strict = renderBuildScript(markedOptions({ strategy: CacheStrategy.buildah() }));
    const lenient = renderBuildScript(markedOptions({ strategy: CacheStrategy.buildah({ install: false, allowOlderBuildah: true }) }));

    // THEN
    for (const script of [strict, lenient]) {
      // (unguarded: a build that reuses the commit's existing image skips it, like every strategy command)
      expect(script.phases.pre_build.map(unguarded)).toContain(CHECK_BUILDAH_VERSION.replace(/;\s*$/, ''));
      expect(script.phases.build.some((c) => c.includes('buildah build'))).toBe(true);
    }
    expect(strict.environment.CIB_BUILDAH_ALLOW_OLDER).toEqual('false');
    expect(lenient.environment.CIB_BUILDAH_ALLOW_OLDER).toEqual('true');
  });

  test.each([
    // Debian 12 (the e2e's)
    ['buildah version 1.28.2 (image-spec 1.0.2-dev, runtime-spec 1.0.2-dev)', false, 'fail',
      /^error: Buildah 1\.28\.2 misses the remote cache for every step after an ARG declared inside a stage \(containers\/buildah#4315, fixed in Buildah 1\.29\)\. Use a build image with Buildah 1\.29 or later .*; or set allowOlderBuildah: true in CacheStrategy\.buildah\(\) to build with it anyway\.$/m],
    ['buildah version 1.28.2 (image-spec 1.0.2-dev, runtime-spec 1.0.2-dev)', true, 'warn',
      /^warning: Buildah 1\.28\.2 misses the remote cache .*building anyway \(allowOlderBuildah\)$/m],
    // Ubuntu 22.04 (CodeBuild standard:6.0 / 7.0): no remote cache at all, allowed or not
    ['buildah version 1.23.1 (image-spec 1.0.1-dev, runtime-spec 1.0.2-dev)', true, 'fail',
      /^error: Buildah 1\.23\.1 has no remote layer cache \(--cache-from\/--cache-to need Buildah 1\.27 or later\)\. Use a build image with Buildah 1\.29 or later/m],
    ['buildah version 1.27.0 (image-spec 1.0.2-dev, runtime-spec 1.0.2-dev)', false, 'fail', /^error: Buildah 1\.27\.0 misses/m],
    ['buildah version 1.29.0 (image-spec 1.0.2-dev, runtime-spec 1.0.2-dev)', false, 'ok', /^Buildah 1\.29\.0: remote layer cache supported$/m],
    // Ubuntu 24.04, Debian 13
    ['buildah version 1.33.7 (image-spec 1.1.0-rc.5, runtime-spec 1.1.0)', false, 'ok', /^Buildah 1\.33\.7: /m],
    ['buildah version 1.39.3 (image-spec 1.1.0, runtime-spec 1.2.0)', false, 'ok', /^Buildah 1\.39\.3: /m],
    ['buildah version 2.0.0-dev (image-spec 1.1.0, runtime-spec 1.2.0)', false, 'ok', /^Buildah 2\.0\.0-dev: /m],
    ['buildah version 1.100.0', false, 'ok', /^Buildah 1\.100\.0: /m],
    ['buildah version 01.09.1', true, 'fail', /^error: Buildah 01\.09\.1 has no remote layer cache/m],
    ['', true, 'fail', /^error: could not read the Buildah version from 'buildah --version' \(is Buildah installed\?\)/m],
    ['podman version 5.6.1', true, 'fail', /^error: could not read the Buildah version/m],
  ])('%j, allowOlderBuildah %s: %s, in bash', (output, allowOlder, want, message) => {
    // WHEN
    const [r] = check([output], allowOlder);

    // THEN
    expect(verdict(r)).toEqual(want);
    expect(r.stderr).toMatch(message);
  });

  test('a buildah that is not there fails the check with the missing-version error, in bash', () => {
    // WHEN: buildah answers as bash does for a missing command
    const [r] = runCases(['buildah() { echo "bash: buildah: command not found" >&2; return 127; }', CHECK_BUILDAH_VERSION],
      [{ CIB_BUILDAH_ALLOW_OLDER: 'true' }], []);

    // THEN
    expect(r.failed).toEqual(1);
    expect(r.stderr).toMatch(/^error: could not read the Buildah version/m);
  });

  test('agrees with the version model on generated `buildah --version` outputs, in bash (fast-check)', () => {
    // GIVEN: versions around the two thresholds, any suffix, and output that names no version
    const part = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 120 }));
    const suffix = fc.constantFrom('', '-dev', '-rc1', '+ds1', '.1', '.0.2');
    const tail = fc.constantFrom('', ' (image-spec 1.0.2-dev, runtime-spec 1.0.2-dev)', ' (image-spec 1.1.0, runtime-spec 1.2.0)');
    const version = fc.tuple(part, fc.oneof(fc.integer({ min: 25, max: 31 }), part), fc.integer({ min: 0, max: 12 }), suffix, tail, fc.boolean())
      .map(([a, b, c, s, t, zero]) => `buildah version ${zero ? '0' : ''}${a}.${b}.${c}${s}${t}`);
    const output = fc.oneof(
      { weight: 8, arbitrary: version },
      { weight: 1, arbitrary: fc.constantFrom('', 'buildah version', 'buildah version x.y', 'Buildah version 1.30.0', 'error: cannot run') },
      { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    );
    const samples = fc.sample(fc.tuple(output, fc.boolean()), { numRuns: 300, seed: 4315 });

    // WHEN
    const results = runCases([FAKE_BUILDAH, CHECK_BUILDAH_VERSION],
      samples.map(([o, allow]) => ({ CIB_FAKE_OUTPUT: o, CIB_BUILDAH_ALLOW_OLDER: String(allow) })), []);

    // THEN
    const wrong = samples.flatMap(([o, allow], i) => {
      const got = verdict(results[i]);
      const want = buildahVersionVerdict(o, allow);
      return got === want ? [] : [`${JSON.stringify(o)} allow=${allow}: bash ${got}, model ${want}`];
    });
    expect(wrong).toEqual([]);
    // both thresholds and every verdict were reached
    const verdicts = new Set(samples.map(([o, allow]) => buildahVersionVerdict(o, allow)));
    expect([...verdicts].sort()).toEqual(['fail', 'ok', 'warn']);
  });
});
