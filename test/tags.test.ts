import { spawnSync } from 'child_process';
import * as fc from 'fast-check';
import { BRANCH_TAG_MAX_LENGTH, ECR_TAG_PATTERN, branchToTag, isValidTag } from '../src/ecr-naming';
import { shellBranchToTag } from '../src/script/branch';

describe('branchToTag', () => {
  test.each([
    ['refs/heads/feature/x', 'feature-x'],
    ['refs/tags/v1.2.3', 'v1.2.3'],
    ['feature/x', 'feature-x'],
    ['pr/12', 'pr-12'],
    ['main', 'main'],
    ['..main', 'main'],
    ['-.-main', 'main'],
    ['_main', '_main'],
    ['release/1.x', 'release-1.x'],
    ['refs/heads/refs/tags/x', 'refs-tags-x'],
    ['refs/heads/', ''],
    ['a b', 'a-b'],
    ['', ''],
  ])('maps %j to %j', (ref, expected) => {
    // WHEN
    const tag = branchToTag(ref);

    // THEN
    expect(tag).toEqual(expected);
  });

  test('maps every UTF-8 byte of a non-ASCII character to one dash', () => {
    // GIVEN: 'é' is 2 bytes, '€' is 3 bytes, '😀' is 4 bytes in UTF-8
    const ref = 'a\u00e9b\u20acc\u{1F600}d';

    // WHEN
    const tag = branchToTag(ref);

    // THEN
    expect(tag).toEqual('a--b---c----d');
  });

  test('drops leading dashes that come from non-ASCII bytes', () => {
    // WHEN
    const tag = branchToTag('\u00e9t\u00e9');

    // THEN
    expect(tag).toEqual('t--');
  });

  test(`keeps only the first ${BRANCH_TAG_MAX_LENGTH} characters of a long branch name`, () => {
    // GIVEN
    const ref = 'b'.repeat(150);

    // WHEN
    const tag = branchToTag(ref);

    // THEN
    expect(tag).toEqual('b'.repeat(BRANCH_TAG_MAX_LENGTH));
  });

  test('truncates after stripping the refs/heads/ prefix', () => {
    // GIVEN
    const ref = 'refs/heads/' + 'x'.repeat(120);

    // WHEN
    const tag = branchToTag(ref);

    // THEN
    expect(tag).toEqual('x'.repeat(BRANCH_TAG_MAX_LENGTH));
  });

  test('output is always a valid ECR tag or empty (property)', () => {
    // GIVEN arbitrary refs / WHEN mapped / THEN valid or empty
    fc.assert(
      fc.property(arbitraryRef(), (ref) => {
        const tag = branchToTag(ref);
        return tag === '' || (ECR_TAG_PATTERN.test(tag) && tag.length <= BRANCH_TAG_MAX_LENGTH);
      }),
      { numRuns: 2000, seed: 42 },
    );
  });

  test('is idempotent on its own output (property)', () => {
    // GIVEN arbitrary refs / WHEN mapped twice / THEN the second mapping changes nothing
    fc.assert(
      fc.property(arbitraryRef(), (ref) => {
        const tag = branchToTag(ref);
        // a tag may itself start with 'refs-', never with 'refs/': mapping it again changes nothing
        return branchToTag(tag) === tag;
      }),
      { numRuns: 1000, seed: 7 },
    );
  });
});

describe('isValidTag', () => {
  test.each(['latest', '_x', 'v1.2.3', 'a'.repeat(128), 'A-b_c.d'])('accepts %j', (tag) => {
    // WHEN / THEN
    expect(isValidTag(tag)).toBe(true);
  });

  test.each(['', '-x', '.x', 'a b', 'a/b', 'a:b', 'a'.repeat(129), 'caf\u00e9'])('rejects %j', (tag) => {
    // WHEN / THEN
    expect(isValidTag(tag)).toBe(false);
  });
});

describe('the shell branch-to-tag mapping', () => {
  /**
   * Runs the shell mapping on every input in one bash process: inputs arrive NUL-separated on
   * stdin, each output is followed by a NUL.
   */
  function shellTags(inputs: string[], env: NodeJS.ProcessEnv): string[] {
    const script = `while IFS= read -r -d '' x; do printf '%s' "${shellBranchToTag('x')}"; printf '\\0'; done`;
    const input = Buffer.concat(inputs.map((s) => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])])));
    const result = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { input, env, maxBuffer: 64 * 1024 * 1024 });
    if (result.status !== 0) {
      throw new Error(`bash failed (${result.status}): ${result.stderr.toString()}`);
    }
    const out = result.stdout.toString('latin1').split('\0');
    expect(out.pop()).toEqual('');
    return out;
  }

  // hand-picked inputs: shell metacharacters, prefixes, unicode, lengths
  const handPicked: string[] = [
    '', 'main', 'refs/heads/main', 'refs/tags/v1', 'refs/heads/refs/heads/x', 'refs/heads', 'refs/heads/',
    'feature/x', '..main', '-main', '--', '.', 'pr/12', 'a b', ' lead', 'trail ',
    '"quoted"', "'single'", '$(touch /tmp/cib-pwned)', '`id`', '${HOME}', '$HOME', 'a;b', 'a|b', 'a&&b',
    'a\nb', '\n', 'a\tb', 'a\\b', '*', '?', '[a]', '-n', '-e', '%s%d', '~', '!event',
    'caf\u00e9', '\u00e9t\u00e9', '\u{1F600}', '\u20ac\u20ac', 'refs/heads/\u00fcber',
    'x'.repeat(99), 'x'.repeat(100), 'x'.repeat(101), 'y'.repeat(150), 'refs/heads/' + 'z'.repeat(120),
    '\u00e9'.repeat(60), '.'.repeat(120) + 'tail',
  ];
  // generated inputs (deterministic seed); each costs a few processes, so keep the count modest
  const generated = fc.sample(arbitraryRef(), { numRuns: 300, seed: 1234 }).filter((s) => !s.includes('\0'));

  test.each([
    ['C.UTF-8', [...handPicked, ...generated]],
    ['C', handPicked],
  ])('agrees with branchToTag() on quotes, $(), backticks, newlines, unicode and long inputs (locale %s)', (locale, samples) => {
    // GIVEN
    const env = { PATH: process.env.PATH, LANG: locale as string };

    // WHEN
    const fromShell = shellTags(samples, env);

    // THEN
    expect(fromShell).toHaveLength(samples.length);
    const mismatches = samples
      .map((input, i) => ({ input, shell: fromShell[i], ts: branchToTag(input) }))
      .filter((m) => m.shell !== m.ts);
    expect(mismatches).toEqual([]);
  });

  test('does not execute command substitutions in the branch name', () => {
    // GIVEN
    const inputs = ['$(echo INJECTED)', '`echo INJECTED`'];

    // WHEN
    const fromShell = shellTags(inputs, { PATH: process.env.PATH, LANG: 'C.UTF-8' });

    // THEN
    expect(fromShell).toEqual(['echo-INJECTED-', 'echo-INJECTED-']);
  });

  test('rejects a variable name that is not a shell identifier', () => {
    // WHEN / THEN
    expect(() => shellBranchToTag('x; rm -rf /')).toThrow(/not a shell variable name/);
  });
});

/** Branch names and refs: printable, unicode, shell metacharacters, prefixes and long strings. */
function arbitraryRef(): fc.Arbitrary<string> {
  const piece = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'grapheme', maxLength: 10 }),
    fc.string({ unit: 'binary', maxLength: 10 }),
    fc.constantFrom('refs/heads/', 'refs/tags/', '/', '.', '-', '_', '..', ' ', '"', "'", '$(', ')', '`', '\n', '\\', '*', '\u00e9', '\u{1F600}'),
    fc.string({ minLength: 90, maxLength: 140 }),
  );
  return fc.array(piece, { maxLength: 6 }).map((parts) => parts.join(''));
}
