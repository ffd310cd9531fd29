export * from './cached-image-build';
export * from './cache-strategy';
export * from './cache-metrics';
export * from './strategies/buildx-builder';
export * from './image-tag';
export * from './build-secret';
