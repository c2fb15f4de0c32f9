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

    pub fn href(self) -> &'static str {
        match self {
            Self::All => "/",
            Self::Active => "/?filter=active",
            Self::Completed => "/?filter=completed",
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
