//! Reference graphs: strongly connected components, cycles, dependency order.
//!
//! Everything here is iterative, so a config with 10,000 chained flags cannot
//! exhaust the stack.

/// A directed graph as adjacency lists: `edges[u]` lists the nodes `u` refers to.
pub type Adjacency = [Vec<usize>];

/// Strongly connected components in dependency order: every component comes
/// after all components it refers to (Tarjan's algorithm, iterative).
///
/// Edges to nodes outside `0..edges.len()` are ignored.
pub fn strongly_connected(edges: &Adjacency) -> Vec<Vec<usize>> {
    let mut t = Tarjan::new(edges.len());
    for root in 0..edges.len() {
        if t.index.get(root) != Some(&UNSEEN) {
            continue;
        }
        t.enter(root);
        while let Some(&mut (v, ref mut edge)) = t.calls.last_mut() {
            let targets = edges.get(v).map(Vec::as_slice).unwrap_or_default();
            if let Some(&w) = targets.get(*edge) {
                *edge += 1;
                match t.index.get(w).copied() {
                    Some(UNSEEN) => t.enter(w),
                    Some(iw) if t.on_stack.get(w) == Some(&true) => t.lower(v, iw),
                    _ => {}
                }
                continue;
            }
            t.calls.pop();
            t.leave(v);
        }
    }
    t.components
}

const UNSEEN: usize = usize::MAX;

struct Tarjan {
    index: Vec<usize>,
    lowlink: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    calls: Vec<(usize, usize)>,
    components: Vec<Vec<usize>>,
    next: usize,
}

impl Tarjan {
    fn new(n: usize) -> Self {
        Tarjan {
            index: vec![UNSEEN; n],
            lowlink: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            calls: Vec::new(),
            components: Vec::new(),
            next: 0,
        }
    }

    fn enter(&mut self, v: usize) {
        if let (Some(i), Some(l), Some(s)) =
            (self.index.get_mut(v), self.lowlink.get_mut(v), self.on_stack.get_mut(v))
        {
            (*i, *l, *s) = (self.next, self.next, true);
            self.next += 1;
            self.stack.push(v);
            self.calls.push((v, 0));
        }
    }

    fn lower(&mut self, v: usize, to: usize) {
        if let Some(l) = self.lowlink.get_mut(v) {
            *l = (*l).min(to);
        }
    }

    /// Finishes `v`: propagates its lowlink to its caller and pops its component if it is a root.
    fn leave(&mut self, v: usize) {
        let lv = self.lowlink.get(v).copied().unwrap_or(0);
        if let Some(&(u, _)) = self.calls.last() {
            self.lower(u, lv);
        }
        if Some(&lv) != self.index.get(v) {
            return;
        }
        let mut component = Vec::new();
        while let Some(w) = self.stack.pop() {
            if let Some(s) = self.on_stack.get_mut(w) {
                *s = false;
            }
            component.push(w);
            if w == v {
                break;
            }
        }
        component.reverse();
        self.components.push(component);
    }
}

/// One cycle per strongly connected component that has one, as the node
/// sequence `[a, b, …, a]`, starting at the component's smallest node.
pub fn cycles(edges: &Adjacency) -> Vec<Vec<usize>> {
    let mut found = Vec::new();
    for component in strongly_connected(edges) {
        let Some(&start) = component.iter().min() else { continue };
        let self_loop = edges.get(start).is_some_and(|e| e.contains(&start));
        if component.len() == 1 && !self_loop {
            continue;
        }
        if let Some(path) = shortest_cycle_through(edges, start, &component) {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Breadth-first search from `start` back to `start` inside `component`.
fn shortest_cycle_through(
    edges: &Adjacency,
    start: usize,
    component: &[usize],
) -> Option<Vec<usize>> {
    let n = edges.len();
    let mut inside = vec![false; n];
    for &c in component {
        if let Some(slot) = inside.get_mut(c) {
            *slot = true;
        }
    }
    let mut parent = vec![usize::MAX; n];
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(u) = queue.pop_front() {
        for &w in edges.get(u).map(Vec::as_slice).unwrap_or_default() {
            if w == start {
                // Walk the parents from the last hop back to `start`.
                let mut path = vec![u];
                let mut at = u;
                while at != start {
                    at = *parent.get(at)?;
                    path.push(at);
                }
                path.reverse();
                path.push(start);
                return Some(path);
            }
            if inside.get(w) == Some(&true) && parent.get(w) == Some(&usize::MAX) {
                if let Some(p) = parent.get_mut(w) {
                    *p = u;
                }
                queue.push_back(w);
            }
        }
    }
    None
}

/// A dependency order (every node after the nodes it refers to), or the cycles.
///
/// # Errors
/// The cycles, each as in [`cycles`], when the graph has any.
pub fn dependency_order(edges: &Adjacency) -> Result<Vec<usize>, Vec<Vec<usize>>> {
    let found = cycles(edges);
    if !found.is_empty() {
        return Err(found);
    }
    Ok(strongly_connected(edges).into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_puts_dependencies_first() {
        // 0 → 1 → 2, 3 → 1
        let edges = vec![vec![1], vec![2], vec![], vec![1]];
        let order = dependency_order(&edges).unwrap();
        let pos = |n| order.iter().position(|&x| x == n).unwrap();
        assert!(pos(2) < pos(1) && pos(1) < pos(0) && pos(1) < pos(3));
    }

    #[test]
    fn cycles_are_named_whole() {
        // 0 → 1 → 2 → 0, 3 → 3, 4 → 0
        let edges = vec![vec![1], vec![2], vec![0], vec![3], vec![0]];
        assert_eq!(cycles(&edges), vec![vec![0, 1, 2, 0], vec![3, 3]]);
        assert!(dependency_order(&edges).is_err());
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let n = 200_000;
        let edges: Vec<Vec<usize>> =
            (0..n).map(|i| if i + 1 < n { vec![i + 1] } else { vec![0] }).collect();
        let found = cycles(&edges);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), n + 1);
    }
}
