/**
 * An intrusive doubly linked list in least-recently-used order: the nodes are the caller's own
 * objects (they carry `lruPrev`/`lruNext`), so touching an entry is six pointer writes and no
 * allocation. The embedded store keeps its Map in insertion order (stable for scans) and its
 * recency here; a Map re-inserted on every hit would cost about as much as the lookup itself.
 */

export interface LruNode {
  lruPrev: LruNode | null;
  lruNext: LruNode | null;
}

export class LruList<T extends LruNode> {
  /** Least recently used: the next to evict. */
  private head: T | null = null;
  /** Most recently used. */
  private tail: T | null = null;

  get oldest(): T | null {
    return this.head;
  }

  /** The node used just after `node` (toward the newest end). */
  after(node: T): T | null {
    return node.lruNext as T | null;
  }

  /** Adds a node that is not in the list as the most recently used. */
  push(node: T): void {
    node.lruPrev = this.tail;
    node.lruNext = null;
    if (this.tail === null) this.head = node;
    else this.tail.lruNext = node;
    this.tail = node;
  }

  remove(node: T): void {
    const { lruPrev: prev, lruNext: next } = node;
    if (prev === null) this.head = next as T | null;
    else prev.lruNext = next;
    if (next === null) this.tail = prev as T | null;
    else next.lruPrev = prev;
    node.lruPrev = node.lruNext = null;
  }

  /** Marks a node in the list as the most recently used. */
  touch(node: T): void {
    if (node === this.tail) return;
    this.remove(node);
    this.push(node);
  }

  clear(): void {
    this.head = this.tail = null;
  }
}
