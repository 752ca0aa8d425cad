// A conversation's rounds form a tree: a regenerate or an edit starts a sibling of the round it
// replaces. The page shows one branch, from the first question to the conversation's current
// round; these are the few walks over the tree that it needs.
(function () {
  "use strict";

  // rounds: Map of round id → {round_id, parent_id, ...}
  function childrenOf(rounds, parentId) {
    return [...rounds.values()].filter((r) => (r.parent_id ?? null) === parentId)
      .map((r) => r.round_id).sort((a, b) => a - b);
  }

  // The newest round at the end of `id`'s newest descendants: what showing `id` shows.
  function newestLeaf(rounds, id) {
    let leaf = id;
    for (;;) {
      const children = childrenOf(rounds, leaf);
      if (!children.length) return leaf;
      leaf = children[children.length - 1];
    }
  }

  // The rounds from the first question down to `currentId` (or, without one, down the newest
  // children), oldest first.
  function branchPath(rounds, currentId) {
    let leaf = currentId;
    if (leaf === null || !rounds.has(leaf)) {
      const roots = childrenOf(rounds, null);
      if (!roots.length) return [];
      leaf = newestLeaf(rounds, roots[roots.length - 1]);
    }
    const path = [];
    for (let id = leaf; id !== null && rounds.has(id); id = rounds.get(id).parent_id ?? null) {
      path.unshift(id);
    }
    return path;
  }

  // The round and its siblings (the other answers to the same point of the conversation).
  function siblingsOf(rounds, id) {
    return childrenOf(rounds, rounds.get(id).parent_id ?? null);
  }

  window.councilBranches = {branchPath, newestLeaf, siblingsOf};
})();
