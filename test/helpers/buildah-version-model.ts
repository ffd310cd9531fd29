import { BUILDAH_CACHING_VERSION, BUILDAH_REMOTE_CACHE_VERSION } from '../../src/strategies/buildah-version';

/** What the build-time check decides for `buildah --version` output: the model the bash check is tested against. */
export type BuildahVersionVerdict = 'ok' | 'warn' | 'fail';

/** major and minor from the first `buildah version X.Y...` line, or undefined. */
export function parseBuildahVersion(output: string): { major: number; minor: number } | undefined {
  const m = /^buildah version (\d+)\.(\d+)/m.exec(output);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

export function buildahVersionVerdict(output: string, allowOlder: boolean): BuildahVersionVerdict {
  const v = parseBuildahVersion(output);
  const atLeast = (min: { major: number; minor: number }) =>
    v !== undefined && (v.major > min.major || (v.major === min.major && v.minor >= min.minor));
  if (!atLeast(BUILDAH_REMOTE_CACHE_VERSION)) return 'fail';
  if (atLeast(BUILDAH_CACHING_VERSION)) return 'ok';
  return allowOlder ? 'warn' : 'fail';
}
