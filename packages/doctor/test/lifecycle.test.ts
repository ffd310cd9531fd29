import { constructPolicy } from './construct-policy';
import { imageFate, parseLifecyclePolicy, ruleSelects, wildcardMatches } from '../src/lifecycle';

describe('wildcardMatches', () => {
  test.each([
    ['main', 'main', true],
    ['main', 'main2', false],
    ['main*', 'main-e4', true],
    ['*', 'anything', true],
    ['feature-*', 'feature-', true],
    ['*-e*', 'main-e12', true],
    ['*test*1', 'xtesty1', true],
    ['v1.2', 'v1x2', false],
  ])('%j against %j: %j', (pattern, tag, expected) => {
    expect(wildcardMatches(pattern, tag)).toBe(expected);
  });
});

describe('ruleSelects', () => {
  const rule = (selection: object) => ({ rulePriority: 1, selection: { countType: 'imageCountMoreThan', countNumber: 1, ...selection }, action: { type: 'expire' } } as any);

  test('every pattern of tagPatternList must match one of the tags', () => {
    const r = rule({ tagStatus: 'tagged', tagPatternList: ['main', 'v*'] });
    expect(ruleSelects(r, ['main'])).toBe(false);
    expect(ruleSelects(r, ['main', 'v3'])).toBe(true);
  });

  test('every prefix of tagPrefixList must start one of the tags', () => {
    const r = rule({ tagStatus: 'tagged', tagPrefixList: ['ma', 'fe'] });
    expect(ruleSelects(r, ['main'])).toBe(false);
    expect(ruleSelects(r, ['main', 'feature-x'])).toBe(true);
  });

  test('any selects tagged and untagged images, untagged only untagged ones', () => {
    expect(ruleSelects(rule({ tagStatus: 'any' }), ['main'])).toBe(true);
    expect(ruleSelects(rule({ tagStatus: 'untagged' }), ['main'])).toBe(false);
    expect(ruleSelects(rule({ tagStatus: 'untagged' }), [])).toBe(true);
  });

  test('rules for the archive storage class leave standard images alone', () => {
    expect(ruleSelects(rule({ tagStatus: 'any', storageClass: 'archive', countType: 'sinceImageTransitioned' }), ['main'])).toBe(false);
  });
});

describe('imageFate', () => {
  test('the first selecting rule by priority decides, whatever order the policy lists them in', () => {
    // GIVEN
    const rules = parseLifecyclePolicy(JSON.stringify({
      rules: [
        { rulePriority: 20, selection: { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 5 }, action: { type: 'expire' } },
        { rulePriority: 10, selection: { tagStatus: 'tagged', tagPatternList: ['main'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
      ],
    }));

    // WHEN / THEN
    expect(imageFate(rules, ['main']).kind).toEqual('kept');
    expect(imageFate(rules, ['feature-x'])).toMatchObject({ kind: 'age', limit: 5 });
  });

  test('a higher-priority rule that selects the image protects it even when its own count is small', () => {
    const rules = parseLifecyclePolicy(JSON.stringify({
      rules: [
        { rulePriority: 1, selection: { tagStatus: 'tagged', tagPatternList: ['main', 'v*'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
        { rulePriority: 2, selection: { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }, action: { type: 'expire' } },
      ],
    }));
    // Both patterns must match: an image tagged only 'main' is not selected by rule 1, so rule 2 decides.
    expect(imageFate(rules, ['main'])).toMatchObject({ kind: 'age', rule: { rulePriority: 2 } });
    expect(imageFate(rules, ['main', 'v2']).kind).toEqual('kept');
  });

  test('a count rule on a wildcard can expire the image', () => {
    const rules = parseLifecyclePolicy(JSON.stringify({
      rules: [{ rulePriority: 1, selection: { tagStatus: 'tagged', tagPatternList: ['ma*'], countType: 'imageCountMoreThan', countNumber: 3 }, action: { type: 'expire' } }],
    }));
    expect(imageFate(rules, ['main'])).toMatchObject({ kind: 'count', limit: 3, action: 'expire' });
  });

  test('no policy rule selecting the image keeps it', () => {
    expect(imageFate([], ['main'])).toEqual({ kind: 'kept', explanation: 'no lifecycle rule selects it' });
  });
});

describe('parseLifecyclePolicy', () => {
  test.each([
    ['not json', 'the lifecycle policy text is not JSON'],
    ['{}', 'the lifecycle policy text has no "rules" list'],
    ['{"rules":[{"rulePriority":1}]}', 'rule 1 of the lifecycle policy lacks rulePriority, selection.tagStatus, countType or countNumber'],
  ])('%j is refused', (text, message) => {
    expect(() => parseLifecyclePolicy(text)).toThrow(message);
  });
});

// The construct repository's test/doctor-agreement.test.ts checks constructPolicy() against the policy
// the construct synthesizes, for these and other props.
describe("the construct's own cache lifecycle policy", () => {
  test('never expires the default-branch cache', () => {
    expect(imageFate(parseLifecyclePolicy(constructPolicy()), ['main']).kind).toEqual('kept');
  });

  test('expires other branches cacheRetention days after their last push, replaced manifests after a day', () => {
    const rules = parseLifecyclePolicy(constructPolicy({ cacheRetentionDays: 5 }));
    expect(imageFate(rules, ['feature-login'])).toMatchObject({ kind: 'age', limit: 5, rule: { rulePriority: 3 } });
    expect(imageFate(rules, [])).toMatchObject({ kind: 'age', limit: 1, rule: { rulePriority: 2 } });
  });
});
