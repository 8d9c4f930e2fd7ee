//! Line diff of two texts (longest common subsequence), for showing a student how their edit
//! and a changed original differ. Pure logic.

/// What a line of the diff is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// In both texts.
    Same,
    /// Only in the first text.
    Removed,
    /// Only in the second text.
    Added,
}

/// Beyond this many line pairs (about 1000 × 1000 lines) the diff is not searched: the first
/// text is shown removed and the second added, which is still correct, only less helpful.
const MAX_CELLS: usize = 1_000_000;

/// The lines of `a` and `b` in order, each marked as kept, removed (only in `a`) or added
/// (only in `b`); removals come before additions where both happen at one place.
pub fn lines<'t>(a: &'t str, b: &'t str) -> Vec<(Change, &'t str)> {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    // Lines shared at both ends need no table.
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (mid_a, mid_b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out: Vec<(Change, &str)> = a[..head].iter().map(|l| (Change::Same, *l)).collect();
    if mid_a.len().saturating_mul(mid_b.len()) > MAX_CELLS {
        out.extend(mid_a.iter().map(|l| (Change::Removed, *l)));
        out.extend(mid_b.iter().map(|l| (Change::Added, *l)));
    } else {
        middle(mid_a, mid_b, &mut out);
    }
    out.extend(a[a.len() - tail..].iter().map(|l| (Change::Same, *l)));
    out
}

/// The classic table: `len[i][j]` is the longest common subsequence of `a[i..]` and `b[j..]`.
fn middle<'t>(a: &[&'t str], b: &[&'t str], out: &mut Vec<(Change, &'t str)>) {
    let width = b.len() + 1;
    let mut len = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            len[i * width + j] = if a[i] == b[j] {
                len[(i + 1) * width + j + 1] + 1
            } else {
                len[(i + 1) * width + j].max(len[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push((Change::Same, a[i]));
            (i, j) = (i + 1, j + 1);
        } else if len[(i + 1) * width + j] >= len[i * width + j + 1] {
            out.push((Change::Removed, a[i]));
            i += 1;
        } else {
            out.push((Change::Added, b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| (Change::Removed, *l)));
    out.extend(b[j..].iter().map(|l| (Change::Added, *l)));
}

#[cfg(test)]
mod tests {
    use super::Change::*;
    use super::*;

    #[test]
    fn equal_texts_are_all_kept() {
        assert_eq!(lines("a\nb\n", "a\nb"), vec![(Same, "a"), (Same, "b")]);
        assert!(lines("", "").is_empty());
    }

    #[test]
    fn a_changed_line_is_removed_then_added_between_kept_ones() {
        let d = lines("def f():\n    return 1\nprint(f())\n", "def f():\n    return 2\nprint(f())\n");
        assert_eq!(d, vec![(Same, "def f():"), (Removed, "    return 1"), (Added, "    return 2"), (Same, "print(f())")]);
    }

    #[test]
    fn the_students_extra_line_and_the_teachers_new_line_both_show() {
        let mine = "x = 1\nprint(x)\n# my edit";
        let new = "x = 1\nprint(x)\nprint('v2')\n";
        assert_eq!(lines(mine, new), vec![(Same, "x = 1"), (Same, "print(x)"), (Removed, "# my edit"), (Added, "print('v2')")]);
    }

    #[test]
    fn moved_and_interleaved_lines_keep_the_longest_common_part() {
        let d = lines("a\nb\nc\nd", "b\nc\na\nd");
        let kept: Vec<&str> = d.iter().filter(|(c, _)| *c == Same).map(|(_, l)| *l).collect();
        assert_eq!(kept, vec!["b", "c", "d"]);
        assert_eq!(d.iter().filter(|(c, _)| *c != Same).count(), 2, "{d:?}");
        // Reading the diff back gives both texts.
        let old: Vec<&str> = d.iter().filter(|(c, _)| *c != Added).map(|(_, l)| *l).collect();
        let new: Vec<&str> = d.iter().filter(|(c, _)| *c != Removed).map(|(_, l)| *l).collect();
        assert_eq!((old.join("\n"), new.join("\n")), ("a\nb\nc\nd".to_string(), "b\nc\na\nd".to_string()));
    }

    #[test]
    fn huge_texts_fall_back_to_removed_then_added() {
        let a: String = (0..1500).map(|i| format!("a{i}\n")).collect();
        let b: String = (0..1500).map(|i| format!("b{i}\n")).collect();
        let d = lines(&a, &b);
        assert_eq!(d.len(), 3000);
        assert!(d[..1500].iter().all(|(c, _)| *c == Removed) && d[1500..].iter().all(|(c, _)| *c == Added));
    }
}
