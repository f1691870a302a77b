/**
 * Trees: one blob per directory, canonical JSON {"nodes":[...]} sorted by the bytes of the names,
 * with a fixed key order, so identical directories give identical bytes and deduplicate.
 * Names and link targets that are not valid UTF-8 are stored base64 as nameB64 / linkTargetB64.
 * Times, inodes and device numbers are decimal strings (64-bit values).
 */
import { isUtf8 } from 'node:buffer';
import type { NodeType } from '../types.js';
import { corrupt, isHexId, parseJsonObject } from './util.js';

export interface TreeNode {
  /** Raw bytes of the name (one path element). */
  name: Uint8Array;
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  mtimeNs: bigint;
  ctimeNs: bigint;
  size: number;
  linkTarget?: Uint8Array;
  inode: bigint;
  device: bigint;
  nlink: number;
  rdev?: bigint;
  /** Hex blob ids of the content, in order (files). */
  content?: string[];
  /** Hex id of the tree blob (directories). */
  subtree?: string;
  /** Hex SHA-256 of the whole file. */
  sha256?: string;
  /** The file changed while it was read and every re-read failed ('snapshot' backups). */
  inconsistent?: boolean;
}

const TYPES: ReadonlySet<string> = new Set(['file', 'dir', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev']);

/** The name as text when its bytes are valid UTF-8 (which always round-trips), else undefined. */
export function textOf(bytes: Uint8Array): string | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8(b) ? b.toString('utf8') : undefined;
}

/** A name for display: text, with invalid bytes shown as U+FFFD. */
export function displayName(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

export function compareNames(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function nodeJson(n: TreeNode): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const name = textOf(n.name);
  if (name !== undefined) o.name = name;
  else o.nameB64 = Buffer.from(n.name).toString('base64');
  o.type = n.type;
  o.mode = n.mode;
  o.uid = n.uid;
  o.gid = n.gid;
  if (n.user !== undefined) o.user = n.user;
  if (n.group !== undefined) o.group = n.group;
  o.mtimeNs = n.mtimeNs.toString();
  o.ctimeNs = n.ctimeNs.toString();
  o.size = n.size;
  if (n.linkTarget !== undefined) {
    const t = textOf(n.linkTarget);
    if (t !== undefined) o.linkTarget = t;
    else o.linkTargetB64 = Buffer.from(n.linkTarget).toString('base64');
  }
  o.inode = n.inode.toString();
  o.device = n.device.toString();
  o.nlink = n.nlink;
  if (n.rdev !== undefined) o.rdev = n.rdev.toString();
  if (n.content !== undefined) o.content = n.content;
  if (n.subtree !== undefined) o.subtree = n.subtree;
  if (n.sha256 !== undefined) o.sha256 = n.sha256;
  if (n.inconsistent) o.inconsistent = true;
  return o;
}

/** Sorts the nodes by name bytes and encodes them canonically. Duplicate names are an error. */
export function encodeTree(nodes: TreeNode[]): Uint8Array {
  const sorted = [...nodes].sort((a, b) => compareNames(a.name, b.name));
  for (let i = 1; i < sorted.length; i++) {
    if (compareNames(sorted[i - 1].name, sorted[i].name) === 0) throw new Error(`engine: duplicate name "${displayName(sorted[i].name)}" in a tree`);
  }
  return new TextEncoder().encode(JSON.stringify({ nodes: sorted.map(nodeJson) }));
}

const DEC = /^(0|[1-9][0-9]{0,30})$/;
const SDEC = /^-?(0|[1-9][0-9]{0,30})$/;

function bigField(o: Record<string, unknown>, k: string, signed = false): bigint {
  const v = o[k];
  if (typeof v !== 'string' || !(signed ? SDEC : DEC).test(v)) throw corrupt('tree', `field ${k} is not a decimal string`);
  return BigInt(v);
}

function intField(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw corrupt('tree', `field ${k} is not a whole number`);
  return v;
}

function b64Field(v: unknown, k: string): Uint8Array {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw corrupt('tree', `field ${k} is not base64`);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

function decodeNode(v: unknown): TreeNode {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt('tree', 'a node is not an object');
  const o = v as Record<string, unknown>;
  let name: Uint8Array;
  if (typeof o.name === 'string') name = new Uint8Array(Buffer.from(o.name, 'utf8'));
  else name = b64Field(o.nameB64, 'nameB64');
  // A name is one path element: never empty, '.', '..', or containing '/' or NUL.
  if (name.length === 0 || name.includes(0x2f) || name.includes(0) || (name.length <= 2 && name.every((c) => c === 0x2e))) {
    throw corrupt('tree', 'a node has a name that is not a single path element');
  }
  if (typeof o.type !== 'string' || !TYPES.has(o.type)) throw corrupt('tree', 'a node has an unknown type');
  const n: TreeNode = {
    name,
    type: o.type as NodeType,
    mode: intField(o, 'mode'),
    uid: intField(o, 'uid'),
    gid: intField(o, 'gid'),
    mtimeNs: bigField(o, 'mtimeNs', true),
    ctimeNs: bigField(o, 'ctimeNs', true),
    size: intField(o, 'size'),
    inode: bigField(o, 'inode'),
    device: bigField(o, 'device'),
    nlink: intField(o, 'nlink'),
  };
  if (o.user !== undefined) {
    if (typeof o.user !== 'string') throw corrupt('tree', 'user is not text');
    n.user = o.user;
  }
  if (o.group !== undefined) {
    if (typeof o.group !== 'string') throw corrupt('tree', 'group is not text');
    n.group = o.group;
  }
  if (typeof o.linkTarget === 'string') n.linkTarget = new Uint8Array(Buffer.from(o.linkTarget, 'utf8'));
  else if (o.linkTargetB64 !== undefined) n.linkTarget = b64Field(o.linkTargetB64, 'linkTargetB64');
  if (o.rdev !== undefined) n.rdev = bigField(o, 'rdev');
  if (o.content !== undefined) {
    if (!Array.isArray(o.content) || !o.content.every((c) => typeof c === 'string' && isHexId(c))) throw corrupt('tree', 'content is not a list of ids');
    n.content = o.content as string[];
  }
  if (o.subtree !== undefined) {
    if (typeof o.subtree !== 'string' || !isHexId(o.subtree)) throw corrupt('tree', 'subtree is not an id');
    n.subtree = o.subtree;
  }
  if (o.sha256 !== undefined) {
    if (typeof o.sha256 !== 'string' || !isHexId(o.sha256)) throw corrupt('tree', 'sha256 is not a hash');
    n.sha256 = o.sha256;
  }
  if (o.inconsistent === true) n.inconsistent = true;
  if (n.type === 'dir' && n.subtree === undefined) throw corrupt('tree', 'a directory has no subtree');
  if (n.type === 'file' && n.content === undefined) throw corrupt('tree', 'a file has no content list');
  if (n.type === 'symlink' && n.linkTarget === undefined) throw corrupt('tree', 'a symlink has no target');
  return n;
}

export function decodeTree(bytes: Uint8Array): TreeNode[] {
  const o = parseJsonObject(bytes, 'tree');
  if (!Array.isArray(o.nodes)) throw corrupt('tree', 'no node list');
  const nodes = o.nodes.map(decodeNode);
  for (let i = 1; i < nodes.length; i++) {
    if (compareNames(nodes[i - 1].name, nodes[i].name) >= 0) throw corrupt('tree', 'nodes are not sorted or a name repeats');
  }
  return nodes;
}
