/**
 * Lays a checkpoint tree out like `git log --graph`, one row per checkpoint in depth-first order
 * (base at the top). The first child continues its parent's lane; every later child (a branch made
 * by rolling back and training again) opens a new lane to the right. Lanes are never reused, so no
 * edge ever crosses a node.
 */
export interface TreeNodeInput {
  id: number;
  parent_id: number | null;
}

export interface PlacedNode<T extends TreeNodeInput> {
  node: T;
  row: number;
  lane: number;
  depth: number;
  parentRow: number | null;
  parentLane: number | null;
}

export function layoutTree<T extends TreeNodeInput>(nodes: T[]): { placed: PlacedNode<T>[]; lanes: number } {
  const ids = new Set(nodes.map((node) => node.id));
  const children = new Map<number | null, T[]>();
  for (const node of nodes) {
    // A parent outside the list (not expected) is drawn as a root rather than dropped.
    const parent = node.parent_id !== null && ids.has(node.parent_id) ? node.parent_id : null;
    children.set(parent, [...(children.get(parent) ?? []), node]);
  }
  for (const list of children.values()) list.sort((a, b) => a.id - b.id);

  const placed: PlacedNode<T>[] = [];
  let nextLane = 0;
  const visit = (node: T, lane: number, depth: number, parent: PlacedNode<T> | null) => {
    const entry: PlacedNode<T> = {
      node,
      row: placed.length,
      lane,
      depth,
      parentRow: parent?.row ?? null,
      parentLane: parent?.lane ?? null,
    };
    placed.push(entry);
    (children.get(node.id) ?? []).forEach((child, index) => {
      visit(child, index === 0 ? lane : nextLane++, depth + 1, entry);
    });
  };
  for (const root of children.get(null) ?? []) visit(root, nextLane++, 0, null);
  return { placed, lanes: Math.max(nextLane, 1) };
}

/** Ids on the path from the root to `id` (inclusive), root first. */
export function pathTo<T extends TreeNodeInput>(nodes: T[], id: number | null): number[] {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const path: number[] = [];
  let current = id === null ? undefined : byId.get(id);
  const seen = new Set<number>();
  while (current && !seen.has(current.id)) {
    seen.add(current.id);
    path.unshift(current.id);
    current = current.parent_id === null ? undefined : byId.get(current.parent_id);
  }
  return path;
}
