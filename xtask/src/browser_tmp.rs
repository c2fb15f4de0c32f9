//! A temporary folder for the browsers (their TMPDIR), removed when dropped.
//!
//! WebDriver sessions are not always ended (wasm-bindgen-test-runner stops its driver
//! without ending the session), and then the browser's profile (about 100 MB for
//! Chromium) and shared-memory files stay in /tmp, run after run, until the disk is full.
//! Under target/ they are the project's own, and go when the run ends.

use std::path::{Path, PathBuf};

use crate::Result;
use crate::error::Error;

pub struct BrowserTmp(PathBuf);

impl BrowserTmp {
    /// `target/xtask/NAME`, emptied of what an interrupted run left behind.
    pub fn create(name: &str) -> Result<Self> {
        let dir = crate::root().join("target/xtask").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        Ok(Self(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for BrowserTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
