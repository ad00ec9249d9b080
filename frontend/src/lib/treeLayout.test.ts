import { layoutTree, pathTo } from "./treeLayout";

const node = (id: number, parent_id: number | null) => ({ id, parent_id });

describe("layoutTree", () => {
  it("keeps a straight line in one lane", () => {
    const { placed, lanes } = layoutTree([node(3, 2), node(1, null), node(2, 1)]);
    expect(placed.map((p) => [p.node.id, p.row, p.lane, p.depth])).toEqual([
      [1, 0, 0, 0],
      [2, 1, 0, 1],
      [3, 2, 0, 2],
    ]);
    expect(lanes).toBe(1);
  });

  it("opens a lane for a branch made after a rollback and never crosses nodes", () => {
    // base 1 -> 2 -> 3 ; rolled back to 2, trained 4 ; rolled back to 1, trained 5
    const { placed, lanes } = layoutTree([node(1, null), node(2, 1), node(3, 2), node(4, 2), node(5, 1)]);
    const byId = Object.fromEntries(placed.map((p) => [p.node.id, p]));
    expect(placed.map((p) => p.node.id)).toEqual([1, 2, 3, 4, 5]);
    expect(byId[3]!.lane).toBe(0);
    expect(byId[4]!.lane).toBe(1);
    expect(byId[4]!.parentRow).toBe(byId[2]!.row);
    expect(byId[5]!.lane).toBe(2);
    expect(lanes).toBe(3);
    // An edge runs down its child's lane from the parent's row: no other node sits in that span.
    for (const child of placed) {
      if (child.parentRow === null || child.lane === child.parentLane) continue;
      const crossed = placed.filter((p) => p.lane === child.lane && p.row > child.parentRow! && p.row < child.row);
      expect(crossed).toEqual([]);
    }
  });

  it("finds the path from the base", () => {
    const nodes = [node(1, null), node(2, 1), node(3, 2), node(4, 2)];
    expect(pathTo(nodes, 4)).toEqual([1, 2, 4]);
    expect(pathTo(nodes, null)).toEqual([]);
  });
});
