/**
 * Image manifest media types and what they mean for the cache and for the image's consumers.
 * Pure: works on the media types and manifest texts ECR returns.
 */

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST_V1 = 'application/vnd.docker.distribution.manifest.v1+json';
/** The config media type of a BuildKit registry cache exported with image-manifest=true. */
export const BUILDKIT_CACHE_CONFIG = 'application/vnd.buildkit.cacheconfig.v0';

/** Every manifest type, so that ECR returns each manifest as it was pushed, without conversion. */
export const ACCEPTED_MEDIA_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V1];

const FRIENDLY: Record<string, string> = {
  [OCI_MANIFEST]: 'OCI image manifest',
  [OCI_INDEX]: 'OCI image index',
  [DOCKER_MANIFEST]: 'Docker image manifest v2',
  [DOCKER_MANIFEST_LIST]: 'Docker manifest list v2',
  [DOCKER_MANIFEST_V1]: 'Docker image manifest v1',
};

/** `OCI image manifest (application/vnd.oci.image.manifest.v1+json)` */
export function describeMediaType(mediaType: string | undefined): string {
  if (!mediaType) return 'unknown media type';
  return FRIENDLY[mediaType] ? `${FRIENDLY[mediaType]} (${mediaType})` : mediaType;
}

interface ManifestJson {
  readonly mediaType?: string;
  readonly config?: { readonly mediaType?: string };
  readonly layers?: unknown[];
  readonly manifests?: Array<{
    readonly mediaType?: string;
    readonly digest?: string;
    readonly platform?: { readonly os?: string; readonly architecture?: string };
    readonly annotations?: Record<string, string>;
  }>;
}

export function parseManifest(text: string | undefined): ManifestJson | undefined {
  if (!text) return undefined;
  try {
    const doc = JSON.parse(text);
    return typeof doc === 'object' && doc !== null ? doc : undefined;
  } catch {
    return undefined;
  }
}

export interface CacheManifestVerdict {
  readonly ok: boolean;
  /** The manifest's media type, as ECR or the manifest itself reports it. */
  readonly mediaType?: string;
  readonly configMediaType?: string;
  readonly layers?: number;
  /** Why it is fine or why it is not, for people. */
  readonly explanation: string;
}

/**
 * Judges what a registry-strategy cache tag holds. BuildKit's registry cache works with ECR only
 * as an OCI image manifest whose config is `application/vnd.buildkit.cacheconfig.v0`
 * (`--cache-to type=registry,image-manifest=true,oci-mediatypes=true`).
 */
export function judgeCacheManifest(ecrMediaType: string | undefined, manifestText: string | undefined): CacheManifestVerdict {
  const manifest = parseManifest(manifestText);
  const mediaType = ecrMediaType ?? manifest?.mediaType;
  const configMediaType = manifest?.config?.mediaType;
  const layers = Array.isArray(manifest?.layers) ? manifest!.layers!.length : undefined;
  const base = { mediaType, configMediaType, layers };
  if (mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST) {
    return {
      ...base,
      ok: false,
      explanation: `the cache tag holds ${mediaType === OCI_INDEX ? 'an OCI image index' : 'a Docker manifest list'} (${mediaType}): ` +
        'BuildKit\'s cache index format, exported ' +
        'without image-manifest=true. ECR supports the cache only as an OCI image manifest (image-manifest=true,oci-mediatypes=true, ' +
        'BuildKit 0.12+), which is what the registry strategy exports: this tag was not written by it, and its exports do not refresh it',
    };
  }
  if (mediaType === OCI_MANIFEST && configMediaType === BUILDKIT_CACHE_CONFIG) {
    if (layers === 0) {
      return { ...base, ok: false, explanation: 'the cache manifest has no layers: the export cached nothing, so builds rebuild every step' };
    }
    return { ...base, ok: true, explanation: `a BuildKit cache manifest (OCI image manifest, config ${BUILDKIT_CACHE_CONFIG})` };
  }
  if (mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST || mediaType === DOCKER_MANIFEST_V1) {
    return {
      ...base,
      ok: false,
      explanation: `the cache tag holds a runnable image (${describeMediaType(mediaType)}, config ${configMediaType ?? 'unknown'}), ` +
        `not a BuildKit registry cache (config ${BUILDKIT_CACHE_CONFIG}): something else pushes to this tag, or the ` +
        'repository is used with another cache strategy (inline cache or Buildah), whose tags the registry strategy cannot use',
    };
  }
  return {
    ...base,
    ok: false,
    explanation: `the cache tag holds ${describeMediaType(mediaType)}, which is not a BuildKit registry cache manifest`,
  };
}

export interface IndexContents {
  /** Child manifests that are images (any platform). */
  readonly platforms: string[];
  /** Child manifests marked as attestations (`vnd.docker.reference.type: attestation-manifest`). */
  readonly attestations: number;
}

/** Reads an image index: which platforms it holds and how many attestation manifests. */
export function readIndex(manifestText: string | undefined): IndexContents {
  const manifests = parseManifest(manifestText)?.manifests ?? [];
  const platforms: string[] = [];
  let attestations = 0;
  for (const m of manifests) {
    if (m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') {
      attestations++;
    } else if (m.platform) {
      platforms.push(`${m.platform.os ?? '?'}/${m.platform.architecture ?? '?'}`);
    }
  }
  return { platforms, attestations };
}

/** Whether ECR reports the image as an index (rather than a single image manifest). */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}
