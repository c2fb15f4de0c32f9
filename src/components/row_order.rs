//! Where the rows of a keyed list go when its keys change: which rows leave, and where
//! each of the others is put, touching the rows that stay only when they must move.
//! Pure, so that the list's page work ([`super::row_list`]) follows a plan tested here.

use std::hash::Hash;

use rustc_hash::FxHashMap;

/// One row of the new order, relative to the rows in the page. `before` is the row it
/// goes in front of: always a row that stays put (`None`: the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<K> {
    /// In the page already, where it should be.
    Stays(K),
    /// In the page already, and moved.
    Moves { key: K, before: Option<K> },
    /// New to the page.
    Comes { key: K, before: Option<K> },
}

/// How to turn the rows `old` into the rows `new`: take out `leaving`, then follow
/// `places` in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan<K> {
    pub leaving: Vec<K>,
    pub places: Vec<Place<K>>,
}

/// The plan from `old` to `new` (each without repeats). The rows that stay put are the
/// longest run of `old`'s rows that `new` keeps in the same order; every other row that
/// stays is moved. So appending, inserting, removing and filtering move nothing, and a
/// row that changes place moves alone: a row moved in the page loses the focus, so
/// `pinned` (the row being edited, whose field has it) stays put if it stays at all,
/// and the rows around it move instead.
pub fn plan<K: Copy + Eq + Hash>(old: &[K], new: &[K], pinned: Option<K>) -> Plan<K> {
    let place_in_new: FxHashMap<K, usize> = if old.is_empty() {
        FxHashMap::default()
    } else {
        new.iter().enumerate().map(|(at, &key)| (key, at)).collect()
    };
    let (staying, leaving): (Vec<K>, Vec<K>) = old
        .iter()
        .copied()
        .partition(|key| place_in_new.contains_key(key));
    // Where each staying row is in `new`, in `old`'s order.
    let order: Vec<usize> = staying.iter().map(|key| place_in_new[key]).collect();
    let pinned = pinned.and_then(|key| staying.iter().position(|stays| *stays == key));
    // By place in `new`: which rows are in the page already, and which of them stay put.
    let mut shown = vec![false; new.len()];
    order.iter().for_each(|&at| shown[at] = true);
    let mut put = vec![false; new.len()];
    for at in longest_increasing_through(&order, pinned) {
        put[order[at]] = true;
    }
    // Each row goes before the next row of `new` that stays put (none: at the end).
    let mut before = None;
    let mut places: Vec<Place<K>> = new
        .iter()
        .enumerate()
        .rev()
        .map(|(at, &key)| {
            if put[at] {
                before = Some(key);
                Place::Stays(key)
            } else if shown[at] {
                Place::Moves { key, before }
            } else {
                Place::Comes { key, before }
            }
        })
        .collect();
    places.reverse();
    Plan { leaving, places }
}

/// The indices into `values` of a longest strictly increasing run of them that holds
/// index `through`, if given: the longest run of the smaller values before it, then it,
/// then the longest run of the larger values after it.
fn longest_increasing_through(values: &[usize], through: Option<usize>) -> Vec<usize> {
    let Some(through) = through else {
        return longest_increasing(values);
    };
    let pivot = values[through];
    let (before, after): (Vec<usize>, Vec<usize>) = (
        (0..through).filter(|&at| values[at] < pivot).collect(),
        (through + 1..values.len())
            .filter(|&at| values[at] > pivot)
            .collect(),
    );
    let run_of = |indices: &[usize]| {
        let picked: Vec<usize> = indices.iter().map(|&at| values[at]).collect();
        longest_increasing(&picked)
            .into_iter()
            .map(|at| indices[at])
            .collect::<Vec<_>>()
    };
    let mut run = run_of(&before);
    run.push(through);
    run.extend(run_of(&after));
    run
}

/// The indices into `values` of a longest strictly increasing run of them, in order.
fn longest_increasing(values: &[usize]) -> Vec<usize> {
    if values.is_sorted() {
        return (0..values.len()).collect();
    }
    // `ends[n]`: the index of the smallest value that ends a run of length n + 1;
    // `previous[i]`: the index before `i` in the run that `i` ends.
    let mut ends: Vec<usize> = Vec::new();
    let mut previous: Vec<Option<usize>> = vec![None; values.len()];
    for (at, value) in values.iter().enumerate() {
        let length = ends.partition_point(|&end| values[end] < *value);
        previous[at] = length.checked_sub(1).map(|before| ends[before]);
        if length == ends.len() {
            ends.push(at);
        } else {
            ends[length] = at;
        }
    }
    let mut run = Vec::with_capacity(ends.len());
    let mut at = ends.last().copied();
    while let Some(index) = at {
        run.push(index);
        at = previous[index];
    }
    run.reverse();
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `old` with `plan` applied, as a list of keys would be.
    fn apply(old: &[char], plan: &Plan<char>) -> Vec<char> {
        let mut rows: Vec<char> = old
            .iter()
            .copied()
            .filter(|key| !plan.leaving.contains(key))
            .collect();
        let at = |rows: &Vec<char>, before: Option<char>| {
            before.map_or(rows.len(), |before| {
                rows.iter()
                    .position(|row| *row == before)
                    .expect("`before` is in the page")
            })
        };
        for place in &plan.places {
            match *place {
                Place::Stays(key) => assert!(rows.contains(&key), "{key} stays"),
                Place::Moves { key, before } => {
                    rows.retain(|row| *row != key);
                    let at = at(&rows, before);
                    rows.insert(at, key);
                }
                Place::Comes { key, before } => {
                    assert!(!rows.contains(&key), "{key} is new");
                    let at = at(&rows, before);
                    rows.insert(at, key);
                }
            }
        }
        rows
    }

    fn moves(plan: &Plan<char>) -> usize {
        plan.places
            .iter()
            .filter(|place| matches!(place, Place::Moves { .. }))
            .count()
    }

    fn keys(text: &str) -> Vec<char> {
        text.chars().collect()
    }

    #[test]
    fn every_change_of_order_ends_in_the_new_order() {
        let cases = [
            ("", "abc"),
            ("abc", ""),
            ("abc", "abc"),
            ("abc", "abcd"),
            ("abc", "xabc"),
            ("abc", "axbc"),
            ("abcd", "acd"),
            ("abcd", "bd"),
            ("bd", "abcd"),
            ("abcd", "dcba"),
            ("abcd", "dabc"),
            ("abcd", "bcda"),
            ("abcde", "xdbyea"),
            ("abc", "xyz"),
        ];
        for (old, new) in cases {
            let (old, new) = (keys(old), keys(new));
            let plan = plan(&old, &new, None);
            assert_eq!(apply(&old, &plan), new, "{old:?} -> {new:?}: {plan:?}");
        }
    }

    /// What a person does (add, delete, filter a list and show it whole again) moves
    /// no row: the page does only the work the change asks for.
    #[test]
    fn adding_removing_and_filtering_move_nothing() {
        for (old, new) in [
            ("abcd", "abcde"),
            ("abcd", "xabcd"),
            ("abcd", "abd"),
            ("abcdef", "bdf"),
            ("bdf", "abcdef"),
        ] {
            let plan = plan(&keys(old), &keys(new), None);
            assert_eq!(moves(&plan), 0, "{old} -> {new}: {plan:?}");
        }
    }

    #[test]
    fn a_row_that_changes_place_is_the_one_row_moved() {
        for (old, new) in [("abcd", "bcda"), ("abcd", "dabc"), ("abcde", "abdce")] {
            let plan = plan(&keys(old), &keys(new), None);
            assert_eq!(moves(&plan), 1, "{old} -> {new}: {plan:?}");
        }
        assert_eq!(moves(&plan(&keys("abcd"), &keys("dcba"), None)), 3);
    }

    /// The row being edited keeps its place (and so its field the focus) when the
    /// order around it changes: the others move.
    #[test]
    fn the_pinned_row_stays_put_and_the_others_move() {
        let (old, new) = (keys("abx"), keys("xab"));
        let edited = plan(&old, &new, Some('x'));
        assert!(edited.places.contains(&Place::Stays('x')), "{edited:?}");
        assert_eq!(moves(&edited), 2);
        assert_eq!(apply(&old, &edited), new);
        for (old, new, pinned) in [
            ("abcde", "eabcd", 'c'),
            ("abcde", "bcdea", 'a'),
            ("abcde", "xdbyea", 'b'),
            ("abc", "ab", 'c'),
        ] {
            let (old, new) = (keys(old), keys(new));
            let edited = plan(&old, &new, Some(pinned));
            assert_eq!(apply(&old, &edited), new, "{old:?} -> {new:?}: {edited:?}");
            if new.contains(&pinned) {
                assert!(edited.places.contains(&Place::Stays(pinned)), "{edited:?}");
            }
        }
    }

    #[test]
    fn the_longest_increasing_run_is_found() {
        assert_eq!(longest_increasing(&[]), Vec::<usize>::new());
        assert_eq!(longest_increasing(&[3, 1, 2]), [1, 2]);
        assert_eq!(
            longest_increasing(&[2, 5, 3, 7, 11, 8, 10, 13, 6]),
            [0, 2, 3, 5, 6, 7]
        );
        assert_eq!(longest_increasing(&[4, 3, 2, 1]).len(), 1);
    }

    #[test]
    fn a_row_moved_to_the_front_is_the_one_move() {
        let plan = plan(&keys("abcd"), &keys("dabc"), None);
        assert_eq!(
            plan.places,
            [
                Place::Moves {
                    key: 'd',
                    before: Some('a')
                },
                Place::Stays('a'),
                Place::Stays('b'),
                Place::Stays('c'),
            ]
        );
    }

    #[test]
    fn rows_shown_in_a_gap_go_before_the_next_row_still_there() {
        let plan = plan(&keys("bd"), &keys("abcd"), None);
        assert_eq!(
            plan.places,
            [
                Place::Comes {
                    key: 'a',
                    before: Some('b')
                },
                Place::Stays('b'),
                Place::Comes {
                    key: 'c',
                    before: Some('d')
                },
                Place::Stays('d'),
            ]
        );
        assert!(plan.leaving.is_empty());
    }
}
