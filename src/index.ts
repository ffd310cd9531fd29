export * from './cached-image-build';
export * from './cached-image-build-props';
export * from './strategies/cache-strategy';
export * from './metrics/metrics-props';
export * from './strategies/buildx-builder';
export * from './image-tag';
export * from './build-secret';
export * from './pull-request-policy';
