//! Which database a server or command uses: a SQLite file (the default) or a
//! PostgreSQL URL, as `--db` and `TASKWIRE_DB` name it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    Sqlite(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

impl FromStr for DbTarget {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(
            if text.starts_with("postgres://") || text.starts_with("postgresql://") {
                Self::Postgres(text.to_owned())
            } else {
                Self::Sqlite(PathBuf::from(text))
            },
        )
    }
}

/// Never shows a password: this is what logs and error messages print.
impl fmt::Display for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => {
                let Some((scheme, rest)) = url.split_once("://") else {
                    return f.write_str("postgres://");
                };
                let host = match rest.rsplit_once('@') {
                    Some((credentials, host)) => {
                        let user = credentials.split(':').next().unwrap_or_default();
                        write!(f, "{scheme}://{user}@")?;
                        host
                    }
                    None => {
                        write!(f, "{scheme}://")?;
                        rest
                    }
                };
                let (host, query) = match host.split_once('?') {
                    Some((host, query)) => (host, Some(query)),
                    None => (host, None),
                };
                f.write_str(host)?;
                if let Some(query) = query {
                    f.write_str("?")?;
                    for (at, pair) in query.split('&').enumerate() {
                        if at > 0 {
                            f.write_str("&")?;
                        }
                        // libpq takes the password as a parameter too.
                        match pair.split_once('=') {
                            Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                                write!(f, "{key}=(hidden)")?;
                            }
                            _ => f.write_str(pair)?,
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_postgres_and_anything_else_a_file() {
        assert_eq!(
            "./taskwire.db".parse::<DbTarget>(),
            Ok(DbTarget::Sqlite(PathBuf::from("./taskwire.db")))
        );
        assert!(matches!(
            "postgresql://db/taskwire".parse::<DbTarget>(),
            Ok(DbTarget::Postgres(_))
        ));
    }

    #[test]
    fn the_password_never_shows() {
        let target: DbTarget = "postgres://tw:s3cret@db:5432/taskwire?sslmode=disable"
            .parse()
            .unwrap_or_else(|never| match never {});
        assert_eq!(
            target.to_string(),
            "postgres://tw@db:5432/taskwire?sslmode=disable"
        );
        let target: DbTarget = "postgres://db/taskwire?user=tw&password=s3cret&sslmode=disable"
            .parse()
            .unwrap_or_else(|never| match never {});
        assert_eq!(
            target.to_string(),
            "postgres://db/taskwire?user=tw&password=(hidden)&sslmode=disable"
        );
    }
}
