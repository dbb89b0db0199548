/**
 * Keeps blobs that pushes have put in the store, but that index.json does not reference yet,
 * safe from a concurrent `imgpack prune`: each is listed in a `.pending/<pid>-...` file, as a
 * load does (prune keeps what live processes list there). A hold ends when the blob becomes
 * reachable from index.json (a tag push), after `ttlMs` (an abandoned push: prune may take it),
 * or when serve stops.
 */
import type { Pending, Store } from '../formats/store/store.js';

export class Holds {
  private readonly held = new Map<string, { pending: Pending; since: number }>();

  constructor(private readonly store: Store, private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  /** Listed before the caller looks for or writes the blob: prune keeps it from now on. */
  hold(digest: string): void {
    const h = this.held.get(digest);
    if (h) {
      h.since = this.now();
      return;
    }
    const pending = this.store.beginPending();
    pending.add(digest);
    this.held.set(digest, { pending, since: this.now() });
  }

  release(digests: Iterable<string>): void {
    for (const d of digests) {
      this.held.get(d)?.pending.end();
      this.held.delete(d);
    }
  }

  /** Ends the holds older than the TTL. */
  sweep(): void {
    const limit = this.now() - this.ttlMs;
    this.release([...this.held].filter(([, h]) => h.since < limit).map(([d]) => d));
  }

  releaseAll(): void {
    this.release([...this.held.keys()]);
  }

  get size(): number {
    return this.held.size;
  }
}
