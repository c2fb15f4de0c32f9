//! The schema's migrations, built into the binary. Listed here rather than found by
//! sqlx's `migrate!`, whose proc-macro crate builds both database drivers a second time
//! for the compiler; what is stored of each (version and checksum) is the same.

use std::borrow::Cow;

use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// One migration: its version, its description and its SQL, as in its file's name
/// (`<version>_<description>.sql`) and content.
type Step = (i64, &'static str, &'static str);

macro_rules! step {
    ($dir:literal, $version:literal, $name:literal) => {
        (
            $version,
            $name,
            include_str!(concat!(
                "../../migrations/",
                $dir,
                "/",
                stringify!($version),
                "_",
                $name,
                ".sql"
            )),
        )
    };
}

const SQLITE: &[Step] = &[
    step!("sqlite", 20260101000000, "initial"),
    step!("sqlite", 20260102000000, "events_bump_seq"),
    step!("sqlite", 20260103000000, "tasks_updated_by"),
    step!("sqlite", 20260104000000, "boards"),
    step!("sqlite", 20260105000000, "refresh_grace"),
    step!("sqlite", 20260106000000, "retired_boards"),
    step!("sqlite", 20260107000000, "deleted_tasks"),
];

const POSTGRES: &[Step] = &[
    step!("postgres", 20260104000000, "initial"),
    step!("postgres", 20260105000000, "refresh_grace"),
    step!("postgres", 20260106000000, "retired_boards"),
    step!("postgres", 20260107000000, "deleted_tasks"),
];

/// A list of migrations as sqlx reads a folder of them.
#[derive(Debug)]
struct Embedded(&'static [Step]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, name, sql)| {
                Migration::new(
                    version,
                    Cow::Owned(name.replace('_', " ")),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

pub async fn sqlite() -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(SQLITE)).await
}

pub async fn postgres() -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(POSTGRES)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in a migrations folder, as `(version, description)`, in order.
    fn files(dir: &str) -> Vec<(i64, String)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut found: Vec<(i64, String)> = std::fs::read_dir(&path)
            .expect("the migrations folder")
            .map(|entry| {
                let name = entry.expect("a folder entry").file_name();
                let name = name.to_string_lossy();
                let stem = name.strip_suffix(".sql").expect("a .sql file");
                let (version, description) = stem.split_once('_').expect("VERSION_NAME.sql");
                (
                    version.parse().expect("a numeric version"),
                    description.to_owned(),
                )
            })
            .collect();
        found.sort();
        found
    }

    fn listed(steps: &[Step]) -> Vec<(i64, String)> {
        steps
            .iter()
            .map(|&(version, name, _)| (version, name.to_owned()))
            .collect()
    }

    #[test]
    fn every_migration_file_is_built_in_in_order() {
        assert_eq!(listed(SQLITE), files("sqlite"));
        assert_eq!(listed(POSTGRES), files("postgres"));
    }
}
