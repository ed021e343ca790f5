import { createHash, timingSafeEqual } from 'node:crypto';
import { FormatError, IntegrityError } from '../blockdev/types.ts';
import { SALT_SIZE, TAG_SIZE } from './aead.ts';
import { LEAF_ENTRY_SIZE, LEAF_FANOUT, NODE_ENTRY_SIZE, NODE_FANOUT, UNIT, type Geometry } from './layout.ts';

/** What the tree records for one logical block: version 0 means never written (reads as zeros). */
export interface LeafEntry {
  version: number;
  slot: number;
  /** The session salt of the block's nonce. */
  salt: Uint8Array;
  tag: Uint8Array;
}

/** Byte offsets within a leaf entry (version u64 at 0). */
const SLOT_AT = 8;
const SALT_AT = 9;

/** A node's place and contents hash; the root's is what the superblock records. */
export interface NodeRef {
  slot: number;
  hash: Uint8Array;
}

const DOMAIN = new TextEncoder().encode('cloister-volume node');

/** SHA-256 over the node bound to its position, so equal nodes at two places hash differently. */
function nodeHash(level: number, index: number, node: Uint8Array): Uint8Array {
  const pos = new Uint8Array(12);
  const v = new DataView(pos.buffer);
  v.setUint32(0, level, true);
  v.setBigUint64(4, BigInt(index), true);
  return createHash('sha256').update(DOMAIN).update(pos).update(node).digest();
}

/**
 * The authenticated metadata tree, held whole in enclave memory while the volume is mounted (it is
 * 1/128 of the volume: 2 MiB for 256 MiB). Loaded once and verified from the root, so the host cannot
 * change a version or tag behind our back afterwards. Each node has two slots on disk: a commit writes
 * a changed node to the slot its committed copy does not occupy (shadow paging).
 */
export class MetaTree {
  private readonly nodes: Uint8Array[];
  /** Views of the leaves, made once: entries are read on every block access. */
  private readonly views: DataView[];
  /** Slot of each node's committed copy. */
  private readonly slots: Uint8Array;
  private readonly dirty: Set<number>[];

  private constructor(
    private readonly geo: Geometry,
    nodes: Uint8Array[],
    slots: Uint8Array,
  ) {
    this.nodes = nodes;
    this.views = nodes
      .slice(0, geo.levelCounts[0])
      .map((n) => new DataView(n.buffer, n.byteOffset, n.byteLength));
    this.slots = slots;
    this.dirty = geo.levelCounts.map(() => new Set<number>());
  }

  /** A tree of never-written blocks, every node dirty (format writes them all). */
  static empty(geo: Geometry): MetaTree {
    const nodes = Array.from({ length: geo.nodeCount }, () => new Uint8Array(UNIT));
    const tree = new MetaTree(geo, nodes, new Uint8Array(geo.nodeCount));
    geo.levelCounts.forEach((count, level) => {
      for (let i = 0; i < count; i++) tree.dirty[level].add(i);
    });
    return tree;
  }

  /** Reads every node from the root down, checking each against the hash its parent records. */
  static load(geo: Geometry, readUnit: (unit: number) => Uint8Array, root: NodeRef): MetaTree {
    const nodes: Uint8Array[] = new Array(geo.nodeCount);
    const slots = new Uint8Array(geo.nodeCount);
    const fetch = (level: number, index: number, ref: NodeRef) => {
      const g = geo.node(level, index);
      const node = readUnit(geo.nodeUnit(g, ref.slot));
      if (!timingSafeEqual(nodeHash(level, index, node), ref.hash))
        throw new IntegrityError(
          `volume: metadata node ${index} of level ${level} (slot ${ref.slot}) does not match its hash`,
        );
      nodes[g] = node;
      slots[g] = ref.slot;
    };
    const top = geo.levels - 1;
    fetch(top, 0, root);
    for (let level = top; level > 0; level--) {
      for (let i = 0; i < geo.levelCounts[level]; i++) {
        const node = nodes[geo.node(level, i)];
        for (let j = 0; j < NODE_FANOUT && i * NODE_FANOUT + j < geo.levelCounts[level - 1]; j++) {
          const e = j * NODE_ENTRY_SIZE;
          const slot = node[e + 32];
          if (slot > 1) throw new FormatError(`volume: metadata entry names slot ${slot}`);
          fetch(level - 1, i * NODE_FANOUT + j, { slot, hash: node.slice(e, e + 32) });
        }
      }
    }
    return new MetaTree(geo, nodes, slots);
  }

  private leafAt(block: number): { node: Uint8Array; offset: number; view: DataView } {
    const leaf = Math.floor(block / LEAF_FANOUT);
    return {
      node: this.nodes[leaf],
      offset: (block % LEAF_FANOUT) * LEAF_ENTRY_SIZE,
      view: this.views[leaf],
    };
  }

  entry(block: number): LeafEntry {
    const { node, offset, view } = this.leafAt(block);
    const high = view.getUint32(offset + 4, true);
    const slot = node[offset + SLOT_AT];
    if (high > 0x1fffff || slot > 1)
      throw new FormatError(`volume: metadata entry of block ${block} is malformed`);
    return {
      version: high * 2 ** 32 + view.getUint32(offset, true),
      slot,
      salt: node.subarray(offset + SALT_AT, offset + SALT_AT + SALT_SIZE),
      tag: node.subarray(offset + LEAF_ENTRY_SIZE - TAG_SIZE, offset + LEAF_ENTRY_SIZE),
    };
  }

  setEntry(block: number, e: LeafEntry): void {
    const { node, offset, view } = this.leafAt(block);
    view.setUint32(offset, e.version >>> 0, true);
    view.setUint32(offset + 4, Math.floor(e.version / 2 ** 32), true);
    node[offset + SLOT_AT] = e.slot;
    node.set(e.salt, offset + SALT_AT);
    node.set(e.tag, offset + LEAF_ENTRY_SIZE - TAG_SIZE);
    this.dirty[0].add(Math.floor(block / LEAF_FANOUT));
  }

  get isDirty(): boolean {
    return this.dirty.some((d) => d.size > 0);
  }

  /**
   * Writes every changed node, leaves first, each to the slot its committed copy does not occupy,
   * recording its hash and slot in its parent. Returns the new root; nothing is committed until the
   * caller writes a superblock naming it.
   */
  writeDirty(writeUnit: (unit: number, data: Uint8Array) => void): NodeRef {
    let root: NodeRef | undefined;
    const top = this.geo.levels - 1;
    for (let level = 0; level <= top; level++) {
      for (const index of [...this.dirty[level]].sort((a, b) => a - b)) {
        const g = this.geo.node(level, index);
        const slot = 1 - this.slots[g];
        writeUnit(this.geo.nodeUnit(g, slot), this.nodes[g]);
        this.slots[g] = slot;
        const hash = nodeHash(level, index, this.nodes[g]);
        if (level === top) {
          root = { slot, hash };
          continue;
        }
        const parentIndex = Math.floor(index / NODE_FANOUT);
        const parent = this.nodes[this.geo.node(level + 1, parentIndex)];
        const e = (index % NODE_FANOUT) * NODE_ENTRY_SIZE;
        parent.set(hash, e);
        parent[e + 32] = slot;
        this.dirty[level + 1].add(parentIndex);
      }
      this.dirty[level].clear();
    }
    if (!root) throw new Error('volume: writeDirty called on a clean tree');
    return root;
  }
}
