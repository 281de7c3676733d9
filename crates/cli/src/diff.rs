//! A unified line diff, for `--dry-run` and `allocate` previews.
//!
//! Lines are matched by patience diffing: lines that occur exactly once on
//! each side anchor the match (in pretty-printed JSON these are mostly the
//! resource names), and the stretches between anchors are matched by a
//! longest common subsequence when they are small, else shown as replaced.
//! Output follows `diff -u`: `---`/`+++` headers, `@@ -l,n +l,n @@` hunks with
//! three lines of context.

use std::collections::HashMap;

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// The largest stretch (lines before × lines after) matched exactly.
const MAX_LCS_CELLS: usize = 1 << 22;

/// How deep patience diffing recurses before giving up on finer matches.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Equal(usize, usize),
    Delete(usize),
    Insert(usize),
}

/// The unified diff of `before` and `after`, empty when they are equal.
pub fn unified(before: &str, after: &str, old_label: &str, new_label: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let mut ops = Vec::with_capacity(a.len().max(b.len()));
    diff_range(&a, &b, (0, a.len()), (0, b.len()), 0, &mut ops);
    if ops.iter().all(|op| matches!(op, Op::Equal(..))) {
        return String::new();
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    for hunk in hunks(&ops) {
        write_hunk(&mut out, &a, &b, hunk);
    }
    out
}

/// Appends the ops that turn `a[ra]` into `b[rb]`.
fn diff_range(
    a: &[&str],
    b: &[&str],
    (mut a0, mut a1): (usize, usize),
    (mut b0, mut b1): (usize, usize),
    depth: usize,
    out: &mut Vec<Op>,
) {
    while a0 < a1 && b0 < b1 && a.get(a0) == b.get(b0) {
        out.push(Op::Equal(a0, b0));
        a0 += 1;
        b0 += 1;
    }
    let mut suffix = 0;
    while a0 < a1 && b0 < b1 && a.get(a1 - 1) == b.get(b1 - 1) {
        a1 -= 1;
        b1 -= 1;
        suffix += 1;
    }
    if a0 == a1 || b0 == b1 {
        out.extend((a0..a1).map(Op::Delete));
        out.extend((b0..b1).map(Op::Insert));
    } else {
        let anchors =
            if depth < MAX_DEPTH { anchors(a, b, (a0, a1), (b0, b1)) } else { Vec::new() };
        if anchors.is_empty() {
            lcs(a, b, (a0, a1), (b0, b1), out);
        } else {
            let (mut pa, mut pb) = (a0, b0);
            for (ia, ib) in anchors {
                diff_range(a, b, (pa, ia), (pb, ib), depth + 1, out);
                out.push(Op::Equal(ia, ib));
                (pa, pb) = (ia + 1, ib + 1);
            }
            diff_range(a, b, (pa, a1), (pb, b1), depth + 1, out);
        }
    }
    out.extend((0..suffix).map(|k| Op::Equal(a1 + k, b1 + k)));
}

/// Lines unique on both sides, as a longest increasing chain of positions.
fn anchors(
    a: &[&str],
    b: &[&str],
    (a0, a1): (usize, usize),
    (b0, b1): (usize, usize),
) -> Vec<(usize, usize)> {
    // line → (count in a, index in a, count in b, index in b)
    let mut seen: HashMap<&str, (u32, usize, u32, usize)> = HashMap::new();
    for (i, line) in a.iter().enumerate().take(a1).skip(a0) {
        let e = seen.entry(line).or_insert((0, i, 0, 0));
        e.0 += 1;
        e.1 = i;
    }
    for (i, line) in b.iter().enumerate().take(b1).skip(b0) {
        if let Some(e) = seen.get_mut(line) {
            e.2 += 1;
            e.3 = i;
        }
    }
    let mut pairs: Vec<(usize, usize)> =
        seen.values().filter(|e| e.0 == 1 && e.2 == 1).map(|e| (e.1, e.3)).collect();
    pairs.sort_unstable();
    longest_increasing(&pairs)
}

/// The longest chain of `pairs` (sorted by first) increasing in second.
fn longest_increasing(pairs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    // tails[k]: index into pairs of the smallest tail of a chain of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; pairs.len()];
    for (i, &(_, y)) in pairs.iter().enumerate() {
        let k = tails.partition_point(|&t| pairs.get(t).is_some_and(|p| p.1 < y));
        prev[i] = k.checked_sub(1).and_then(|j| tails.get(j).copied());
        if k == tails.len() {
            tails.push(i);
        } else if let Some(t) = tails.get_mut(k) {
            *t = i;
        }
    }
    let mut chain = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied();
    while let Some(i) = at {
        if let Some(&p) = pairs.get(i) {
            chain.push(p);
        }
        at = prev.get(i).copied().flatten();
    }
    chain.reverse();
    chain
}

/// Exact longest common subsequence for small stretches, else a replacement.
fn lcs(
    a: &[&str],
    b: &[&str],
    (a0, a1): (usize, usize),
    (b0, b1): (usize, usize),
    out: &mut Vec<Op>,
) {
    let (n, m) = (a1 - a0, b1 - b0);
    if n.saturating_mul(m) > MAX_LCS_CELLS {
        out.extend((a0..a1).map(Op::Delete));
        out.extend((b0..b1).map(Op::Insert));
        return;
    }
    // len[i][j]: LCS length of a[a0 + i..a1] and b[b0 + j..b1], row-major.
    let width = m + 1;
    let mut len = vec![0u32; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let value = if a.get(a0 + i) == b.get(b0 + j) {
                len.get((i + 1) * width + j + 1).map_or(0, |v| v + 1)
            } else {
                let down = len.get((i + 1) * width + j).copied().unwrap_or(0);
                let right = len.get(i * width + j + 1).copied().unwrap_or(0);
                down.max(right)
            };
            if let Some(cell) = len.get_mut(i * width + j) {
                *cell = value;
            }
        }
    }
    let at = |i: usize, j: usize| len.get(i * width + j).copied().unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a.get(a0 + i) == b.get(b0 + j) {
            out.push(Op::Equal(a0 + i, b0 + j));
            i += 1;
            j += 1;
        } else if at(i + 1, j) >= at(i, j + 1) {
            out.push(Op::Delete(a0 + i));
            i += 1;
        } else {
            out.push(Op::Insert(b0 + j));
            j += 1;
        }
    }
    out.extend((a0 + i..a1).map(Op::Delete));
    out.extend((b0 + j..b1).map(Op::Insert));
}

/// Groups ops into hunks: each change with up to [`CONTEXT`] equal lines around it.
fn hunks(ops: &[Op]) -> Vec<&[Op]> {
    let changes: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !matches!(op, Op::Equal(..)))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::new();
    let mut k = 0;
    while let Some(&first) = changes.get(k) {
        let start = first.saturating_sub(CONTEXT);
        let mut last = first;
        k += 1;
        while let Some(&next) = changes.get(k) {
            if next - last > 2 * CONTEXT {
                break;
            }
            last = next;
            k += 1;
        }
        let end = (last + CONTEXT + 1).min(ops.len());
        if let Some(hunk) = ops.get(start..end) {
            out.push(hunk);
        }
    }
    out
}

fn write_hunk(out: &mut String, a: &[&str], b: &[&str], hunk: &[Op]) {
    // The first line of each side in this hunk, and the counts.
    let (mut a_start, mut b_start) = (None, None);
    let (mut n_a, mut n_b) = (0, 0);
    let (mut a_before, mut b_before) = (0, 0);
    for op in hunk {
        match *op {
            Op::Equal(i, j) => {
                a_start.get_or_insert(i);
                b_start.get_or_insert(j);
                n_a += 1;
                n_b += 1;
            }
            Op::Delete(i) => {
                a_start.get_or_insert(i);
                n_a += 1;
            }
            Op::Insert(j) => {
                b_start.get_or_insert(j);
                n_b += 1;
            }
        }
    }
    // A side with no line in the hunk is numbered by the line before it.
    for op in hunk {
        match *op {
            Op::Equal(i, j) => {
                (a_before, b_before) = (i, j);
                break;
            }
            Op::Delete(i) => a_before = i,
            Op::Insert(j) => b_before = j,
        }
    }
    let label = |start: Option<usize>, before: usize, n: usize| match start {
        Some(s) => format!("{},{n}", s + 1),
        None => format!("{before},0"),
    };
    out.push_str(&format!(
        "@@ -{} +{} @@\n",
        label(a_start, a_before, n_a),
        label(b_start, b_before, n_b)
    ));
    for op in hunk {
        let (sign, line) = match *op {
            Op::Equal(i, _) => (' ', a.get(i)),
            Op::Delete(i) => ('-', a.get(i)),
            Op::Insert(j) => ('+', b.get(j)),
        };
        out.push(sign);
        out.push_str(line.copied().unwrap_or_default());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(before: &str, after: &str, expected: &str) {
        assert_eq!(unified(before, after, "a", "b"), expected);
    }

    #[test]
    fn equal_texts_have_no_diff() {
        check("x\ny\n", "x\ny\n", "");
        check("", "", "");
    }

    #[test]
    fn one_changed_line_with_context() {
        let before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let after = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        check(before, after, "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
    }

    #[test]
    fn distant_changes_make_two_hunks_and_near_ones_merge() {
        let before: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let after = before.replacen("2\n", "two\n", 1).replace("\n19\n", "\nnineteen\n");
        let diff = unified(&before, &after, "a", "b");
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        let after = before.replace("\n5\n", "\nfive\n").replace("\n9\n", "\nnine\n");
        let diff = unified(&before, &after, "a", "b");
        assert_eq!(diff.matches("@@ -").count(), 1, "{diff}");
    }

    #[test]
    fn pure_insertions_and_deletions_number_the_empty_side() {
        check("a\nb\n", "a\nb\nc\n", "--- a\n+++ b\n@@ -1,2 +1,3 @@\n a\n b\n+c\n");
        check("", "x\n", "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n");
        check("x\n", "", "--- a\n+++ b\n@@ -1,1 +0,0 @@\n-x\n");
    }

    #[test]
    fn anchors_keep_moved_blocks_readable() {
        let before =
            "{\n  \"name\": \"a\",\n  \"x\": 1\n},\n{\n  \"name\": \"b\",\n  \"x\": 1\n}\n";
        let after = "{\n  \"name\": \"a\",\n  \"x\": 2\n},\n{\n  \"name\": \"b\",\n  \"x\": 2\n}\n";
        let diff = unified(before, after, "a", "b");
        assert_eq!(diff.matches("\n-  \"x\": 1").count(), 2, "{diff}");
        assert_eq!(diff.matches("\n+  \"x\": 2").count(), 2, "{diff}");
        assert!(!diff.contains("-  \"name\""), "{diff}");
    }

    #[test]
    fn longest_increasing_chain() {
        assert_eq!(
            longest_increasing(&[(0, 3), (1, 1), (2, 2), (3, 0), (4, 4)]),
            [(1, 1), (2, 2), (4, 4)]
        );
        assert_eq!(longest_increasing(&[]), []);
    }
}
