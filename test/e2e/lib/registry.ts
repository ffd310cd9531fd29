/** A few calls to the local registry's HTTP API (distribution), for checks and fault injection. */

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export class Registry {
  constructor(private readonly host: string) {}

  async tags(repository: string): Promise<string[]> {
    const r = await fetch(`http://${this.host}/v2/${repository}/tags/list`);
    if (r.status === 404) return [];
    if (!r.ok) throw new Error(`tags/list ${repository}: HTTP ${r.status}`);
    const body = (await r.json()) as { tags?: string[] | null };
    return body.tags ?? [];
  }

  async manifest(repository: string, reference: string): Promise<{ digest: string; mediaType: string; body: any } | undefined> {
    const r = await fetch(`http://${this.host}/v2/${repository}/manifests/${reference}`, { headers: { Accept: MANIFEST_TYPES } });
    if (r.status === 404) return undefined;
    if (!r.ok) throw new Error(`manifest ${repository}:${reference}: HTTP ${r.status}`);
    const body = await r.json();
    return { digest: r.headers.get('docker-content-digest') ?? '', mediaType: r.headers.get('content-type') ?? '', body };
  }

  /** Deletes every tagged manifest of a repository (an emptied cache repository). */
  async emptyRepository(repository: string): Promise<number> {
    let deleted = 0;
    for (const tag of await this.tags(repository)) {
      const m = await this.manifest(repository, tag);
      if (!m) continue;
      const r = await fetch(`http://${this.host}/v2/${repository}/manifests/${m.digest}`, { method: 'DELETE' });
      if (r.status !== 202 && r.status !== 404) throw new Error(`delete ${repository}@${m.digest}: HTTP ${r.status}`);
      deleted += 1;
    }
    return deleted;
  }
}
