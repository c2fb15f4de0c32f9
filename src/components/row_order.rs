//! Where the rows of a keyed list go when its keys change: which rows leave, and where
//! each of the others is put, touching the rows that stay only when they must move.
//! Pure, so that the list's page work ([`super::row_list`]) follows a plan tested here.

use std::hash::Hash;

use rustc_hash::FxHashSet;

/// One row of the new order, relative to the rows in the page. `before` is the row it
/// goes in front of: always a row that has not been passed yet (`None`: the end).
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

/// The plan from `old` to `new` (each without repeats). A row that stays is moved only
/// when a row after it in `old` comes before it in `new`, so appending, inserting,
/// removing and filtering move nothing.
pub fn plan<K: Copy + Eq + Hash>(old: &[K], new: &[K]) -> Plan<K> {
    if old.is_empty() {
        return Plan {
            leaving: Vec::new(),
            places: new
                .iter()
                .map(|&key| Place::Comes { key, before: None })
                .collect(),
        };
    }
    let wanted: FxHashSet<K> = new.iter().copied().collect();
    let (staying, leaving): (Vec<K>, Vec<K>) =
        old.iter().copied().partition(|key| wanted.contains(key));
    let shown: FxHashSet<K> = staying.iter().copied().collect();
    let mut unpassed = staying.into_iter().peekable();
    // Rows moved ahead of their old place, skipped when the walk reaches it.
    let mut moved: FxHashSet<K> = FxHashSet::default();
    let mut places = Vec::with_capacity(new.len());
    for &key in new {
        while unpassed.next_if(|next| moved.contains(next)).is_some() {}
        let before = unpassed.peek().copied();
        places.push(if before == Some(key) {
            unpassed.next();
            Place::Stays(key)
        } else if shown.contains(&key) {
            moved.insert(key);
            Place::Moves { key, before }
        } else {
            Place::Comes { key, before }
        });
    }
    Plan { leaving, places }
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
            let plan = plan(&old, &new);
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
            let plan = plan(&keys(old), &keys(new));
            assert_eq!(moves(&plan), 0, "{old} -> {new}: {plan:?}");
        }
    }

    #[test]
    fn a_row_moved_to_the_front_is_the_one_move() {
        let plan = plan(&keys("abcd"), &keys("dabc"));
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
        let plan = plan(&keys("bd"), &keys("abcd"));
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
