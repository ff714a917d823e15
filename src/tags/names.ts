/**
 * Tag names (T7) and the automatic tags of cached documents (T2, T8).
 *
 * A tag is a non-empty, well-formed string of at most 256 UTF-8 bytes; an entry carries at most 32.
 * Anything else is a TypeError before any I/O. Tags are namespaced like keys (K1): the physical
 * key of a tag is laid out by keys.ts (`keyInPrefix`, space `T`), whose escaping keeps two different
 * (namespace, tag) pairs on two different keys whatever characters either holds.
 */
import { createHash } from 'node:crypto';
import { joinParts, validateKey } from '../keys.js';

export const MAX_TAGS_PER_ENTRY = 32;
export const MAX_TAG_BYTES = 256;
const encoder = new TextEncoder();

function tagBytes(tag: string): number {
  // 85 UTF-16 units can never exceed 256 UTF-8 bytes.
  return tag.length <= 85 ? tag.length : encoder.encode(tag).length;
}

/** One tag (T7): throws a TypeError naming `what` when it is not a valid tag. */
export function validateTag(tag: unknown, what = 'tag'): asserts tag is string {
  if (typeof tag !== 'string') throw new TypeError(`${what} must be a string, got ${tag === null ? 'null' : typeof tag}`);
  if (tag.length === 0) throw new TypeError(`${what} must not be empty`);
  if (!tag.isWellFormed()) throw new TypeError(`${what} holds a lone surrogate and has no UTF-8 form`);
  if (tag.length > 85 && tagBytes(tag) > MAX_TAG_BYTES) throw new TypeError(`${what} is longer than ${MAX_TAG_BYTES} UTF-8 bytes`);
}

/**
 * The tags of one entry (T7): an array of at most 32 valid tags, returned without duplicates (in
 * first-seen order). `max` is 32 for an entry; invalidateTags takes any number.
 */
export function validateTags(tags: unknown, what = 'tags', max = MAX_TAGS_PER_ENTRY): string[] {
  if (!Array.isArray(tags)) throw new TypeError(`${what} must be an array of strings`);
  if (tags.length > max) throw new TypeError(`${what}: at most ${max} tags per entry, got ${tags.length}`);
  for (let i = 0; i < tags.length; i++) validateTag(tags[i], `${what}[${i}]`);
  const list = tags as string[];
  return list.length < 2 || new Set(list).size === list.length ? list.slice() : [...new Set(list)];
}

/** A tag that would exceed 256 bytes is replaced by its digest (same prefix), so it stays valid and distinct. */
function bounded(head: string, body: string): string {
  const tag = head + body;
  if (tagBytes(tag) <= MAX_TAG_BYTES) return tag;
  return `${head}#${createHash('sha256').update(body).digest('base64url')}`;
}

/** The tag every cached document of `doctype` carries (T2): `doctype:<doctype>`. */
export function doctypeTag(doctype: string): string {
  validateKey(doctype, 'doctype');
  return bounded('doctype:', doctype);
}

/**
 * The tag one cached document carries (T2): `doc:<doctype>/<name>`, the two joined by `joinParts`
 * (D5: `%` and `/` escaped in each), so that no two (doctype, name) pairs share one (`('a/b', 'c')`
 * and `('a', 'b/c')` are two tags), as they never share a cached document.
 */
export function docTag(doctype: string, name?: string): string {
  validateKey(doctype, 'doctype');
  const n = name ?? doctype;
  validateKey(n, 'name');
  return bounded('doc:', joinParts([doctype, n]));
}
