/**
 * The strategies extend CacheStrategy, whose static factories create them: the modules import each
 * other. Whichever module is loaded first, every factory must work.
 */
const STRATEGY_MODULES = ['cache-strategy', 'registry', 'inline', 'buildah', 'none'];

describe.each(STRATEGY_MODULES)('loading src/strategies/%s first', (first) => {
  test('every factory returns a CacheStrategy with its name', () => {
    jest.isolateModules(() => {
      // GIVEN: a fresh module registry in which this module is the first strategy module loaded
      // (require, not import: the order of loading is what is tested)
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(`../src/strategies/${first}`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { CacheStrategy } = require('../src/strategies/cache-strategy');

      // WHEN
      const strategies = [CacheStrategy.registry(), CacheStrategy.inline(), CacheStrategy.buildah(), CacheStrategy.none()];

      // THEN
      expect(strategies.map((s) => s instanceof CacheStrategy)).toEqual([true, true, true, true]);
      expect(strategies.map((s) => s.name)).toEqual(['registry', 'inline', 'buildah', 'none']);
    });
  });
});
