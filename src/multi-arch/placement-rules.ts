import { CachedImageBuildProps } from '../cached-image-build-props';

/**
 * Placement props that cannot serve a multi-architecture build: each platform builds on a host of
 * its own architecture, and these props name one host kind for all of them.
 */
export function validateMultiArchPlacement(props: CachedImageBuildProps): void {
  if (props.fleet !== undefined) {
    throw new Error('fleet cannot be combined with platforms: a fleet has one environment type (one architecture), and platforms ' +
      'builds each platform on a host of its own architecture; remove fleet, or use one CachedImageBuild per platform with its own fleet');
  }
  if (props.dockerServer !== undefined) {
    throw new Error('dockerServer cannot be combined with platforms: a Docker server has one architecture and the construct gives ' +
      'each platform a native host; remove dockerServer, or use one CachedImageBuild per platform');
  }
}
