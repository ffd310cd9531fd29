import { validateCompressionLevel } from '../options/validation';

/** Options for {@link LayerCompression.gzip} and {@link LayerCompression.zstd}. */
export interface LayerCompressionOptions {
  /**
   * The compression level (`compression-level`): 0 to 9 for gzip (0 stores the layers
   * uncompressed in gzip framing), 1 to 22 for zstd.
   *
   * @default BuildKit's default level of the algorithm (gzip 6, zstd 3)
   */
  readonly level?: number;
}

/**
 * How `CacheStrategy.registry()` compresses the layers it creates, for the image and the cache
 * alike (`compression=...` of the image output and of `--cache-to`): one compression for both, so
 * that BuildKit compresses each new layer once and the image push and the cache export share it.
 *
 * @example
 * // zstd: faster to compress and decompress than gzip; the image's consumers must pull zstd layers.
 * new CachedImageBuild(this, 'Api', { cache: CacheStrategy.registry({ compression: LayerCompression.zstd() }) });
 */
export class LayerCompression {
  /**
   * gzip, which every registry and container runtime reads. Without a level this is BuildKit's
   * default and adds no flag.
   */
  public static gzip(options: LayerCompressionOptions = {}): LayerCompression {
    validateCompressionLevel('LayerCompression.gzip()', options.level, 0, 9);
    return new LayerCompression('gzip', options.level);
  }

  /**
   * zstd, in an image with OCI media types (`oci-mediatypes=true`; Docker's media types cannot
   * name a zstd layer). Check every consumer of the image before choosing it: Docker 26 pulls and
   * runs such an image, Docker 20.10 fails to (`failed to register layer: ... invalid tar header`;
   * CodeBuild's standard:5.0 and 6.0 images run Docker 20.10); AWS Fargate (platform version 1.4)
   * pulls zstd layers; AWS Lambda's documentation names no support for them.
   */
  public static zstd(options: LayerCompressionOptions = {}): LayerCompression {
    validateCompressionLevel('LayerCompression.zstd()', options.level, 1, 22);
    return new LayerCompression('zstd', options.level);
  }

  /** The algorithm: `gzip` or `zstd`. */
  public readonly algorithm: string;

  /** The compression level, when one was given. */
  public readonly level?: number;

  private constructor(algorithm: string, level: number | undefined) {
    this.algorithm = algorithm;
    this.level = level;
  }

  /** Whether this is BuildKit's default (gzip at its default level): no flag at all. @internal */
  public get _isDefault(): boolean {
    return this.algorithm === 'gzip' && this.level === undefined;
  }

  /** The keys for `--cache-to` (empty for the default). @internal */
  public get _cacheFlags(): string {
    if (this._isDefault) return '';
    return [`compression=${this.algorithm}`, ...(this.level !== undefined ? [`compression-level=${this.level}`] : [])].join(',');
  }

  /** The keys for the image output (empty for the default). @internal */
  public get _imageFlags(): string {
    if (this._isDefault) return '';
    return [this._cacheFlags, ...(this.algorithm === 'zstd' ? ['oci-mediatypes=true'] : [])].join(',');
  }
}
