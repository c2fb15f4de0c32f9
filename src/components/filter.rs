//! Which tasks the board shows, kept in the URL (`?filter=active`) so that a link or a
//! reload shows the same list.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Filter {
    All,
    Active,
    Completed,
}

impl Filter {
    pub const EVERY: [Filter; 3] = [Filter::All, Filter::Active, Filter::Completed];

    /// Reads the `filter` query value; anything unknown shows everything.
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            Some("active") => Self::Active,
            Some("completed") => Self::Completed,
            _ => Self::All,
        }
    }

    pub fn shows(self, done: bool) -> bool {
        match self {
            Self::All => true,
            Self::Active => !done,
            Self::Completed => done,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::All => "All",
            Self::Active => "Active",
            Self::Completed => "Completed",
        }
    }

    /// The address of `path` (the board's own, `/` or `/b/<id>`) under this filter: only
    /// the query changes, so a filter never leaves the board it is on.
    pub fn href(self, path: &str) -> String {
        match self {
            Self::All => path.to_owned(),
            Self::Active => format!("{path}?filter=active"),
            Self::Completed => format!("{path}?filter=completed"),
        }
    }

    /// What an empty list says under this filter when there are tasks elsewhere.
    pub fn nothing_here(self) -> &'static str {
        match self {
            Self::All => "No tasks yet",
            Self::Active => "Nothing left to do",
            Self::Completed => "Nothing completed yet",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_changes_only_the_query_of_the_board_it_is_on() {
        let on = |path| Filter::EVERY.map(|f| f.href(path));
        assert_eq!(on("/"), ["/", "/?filter=active", "/?filter=completed"]);
        assert_eq!(
            on("/b/7f0c"),
            [
                "/b/7f0c",
                "/b/7f0c?filter=active",
                "/b/7f0c?filter=completed"
            ]
        );
    }
}
