//! The release bundle in dist/: the app built by cargo, bound by wasm-bindgen (its
//! library, the code inside `wasm-bindgen-cli`), shrunk by binaryen's wasm-opt, and
//! `index.html` with hashed file names and subresource integrity, as `trunk build
//! --release` makes it. Not through trunk: building trunk from source is over half of
//! a fresh machine's set-up, and the release build needs none of what trunk adds to
//! those three steps (watching, serving, proxying, which the development loop keeps
//! trunk for). `index.html` stays the one page for both: its `data-trunk` links, and
//! the build settings on the `rust` one, are read here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256, Sha384};

use crate::Result;
use crate::error::Error;
use crate::steps::{Background, Timings};

const TARGET: &str = "wasm32-unknown-unknown";

/// The app's cargo build, begun; the rest of the bundle follows it in [`Self::finish`].
pub struct ReleaseApp {
    page: Page,
    build: Background,
}

impl ReleaseApp {
    /// Starts the app's cargo build in the background, its output in `logs`.
    pub fn start(logs: &Path) -> Result<Self> {
        let page = Page::read()?;
        let rust = page.rust()?;
        let mut cargo = crate::harness::cargo(&[
            "build",
            "--target",
            TARGET,
            "--profile",
            &rust.profile,
            "--bin",
            &rust.bin,
        ]);
        let build = Background::start(
            "building the app (release)",
            &mut cargo,
            &logs.join("app-build.log"),
        )?;
        Ok(Self { page, build })
    }

    /// Waits for the cargo build, then binds, shrinks and links the bundle into dist/,
    /// recording both in `timings`.
    pub fn finish(self, timings: &mut Timings) -> Result {
        timings.record("building the app (release)", self.build.finish()?);
        println!("\n==> binding, shrinking and linking the bundle into dist/");
        let started = Instant::now();
        let staging = crate::root().join("target/xtask/dist");
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(Error::io("clearing the staged dist"))?;
        }
        std::fs::create_dir_all(&staging).map_err(Error::io("creating the staged dist"))?;
        let html = self.page.link(&staging)?;
        write(&staging.join("index.html"), html.as_bytes())?;
        let dist = crate::root().join("dist");
        if dist.exists() {
            std::fs::remove_dir_all(&dist).map_err(Error::io("clearing dist"))?;
        }
        std::fs::rename(&staging, &dist).map_err(Error::io("moving the bundle into dist"))?;
        let took = started.elapsed();
        println!("==> the bundle is in dist/ ({:.1} s)", took.as_secs_f64());
        timings.record("binding, shrinking and linking the bundle", took);
        Ok(())
    }
}

/// `index.html`, and what its `data-trunk` links ask for.
struct Page {
    html: String,
}

/// The settings on the `rust` link.
struct Rust {
    bin: String,
    profile: String,
    /// wasm-opt's level (`z` for `-Oz`), if it runs at all.
    opt_level: Option<String>,
    opt_params: Vec<String>,
}

impl Page {
    fn read() -> Result<Self> {
        let path = crate::root().join("index.html");
        let html = std::fs::read_to_string(&path).map_err(Error::io("reading index.html"))?;
        Ok(Self { html })
    }

    /// Every `<link data-trunk …>` tag: its place in the page and its attributes.
    fn links(&self) -> Result<Vec<(std::ops::Range<usize>, Attributes)>> {
        let mut links = Vec::new();
        let mut from = 0;
        while let Some(start) = self.html[from..]
            .find("<link data-trunk")
            .map(|at| at + from)
        {
            let end = self.html[start..]
                .find('>')
                .map(|at| start + at + 1)
                .ok_or_else(|| Error::Other("index.html: a <link> that never ends".into()))?;
            links.push((start..end, Attributes::parse(&self.html[start..end])?));
            from = end;
        }
        Ok(links)
    }

    fn rust(&self) -> Result<Rust> {
        let links = self.links()?;
        let attributes = links
            .iter()
            .map(|(_, attributes)| attributes)
            .find(|attributes| attributes.get("rel") == Some("rust"))
            .ok_or_else(|| Error::Other("index.html has no rust link".into()))?;
        Ok(Rust {
            bin: attributes.require("data-bin")?.to_owned(),
            profile: attributes
                .get("data-cargo-profile-release")
                .unwrap_or("release")
                .to_owned(),
            opt_level: attributes.get("data-wasm-opt").map(str::to_owned),
            opt_params: attributes
                .get("data-wasm-opt-params")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        })
    }

    /// Writes what each link asks for into `dist`, and gives back the page with the links
    /// replaced by what loads them.
    fn link(&self, dist: &Path) -> Result<String> {
        let mut html = String::with_capacity(self.html.len() + 1024);
        let mut copied = 0;
        for (range, attributes) in self.links()? {
            html.push_str(&self.html[copied..range.start]);
            copied = range.end;
            match attributes.require("rel")? {
                "css" => html.push_str(&stylesheet(dist, attributes.require("href")?)?),
                "copy-dir" => {
                    copy_dir(dist, attributes.require("href")?)?;
                    // Nothing in its place: its line goes.
                    html.truncate(html.trim_end_matches([' ', '\t']).len());
                    if self.html[copied..].starts_with('\n') {
                        copied += 1;
                    }
                }
                "rust" => html.push_str(&app(dist, &self.rust()?)?),
                other => {
                    return Err(Error::Other(format!(
                        "index.html: a data-trunk link of rel={other}, which this build does not know"
                    )));
                }
            }
        }
        html.push_str(&self.html[copied..]);
        Ok(html)
    }
}

/// A tag's attributes, in order; a bare attribute has no value.
struct Attributes(Vec<(String, Option<String>)>);

impl Attributes {
    /// `<link a="x" b c='y'>`: the attributes of one start tag, quoted values only.
    fn parse(tag: &str) -> Result<Self> {
        let inner = tag
            .trim_start_matches("<link")
            .trim_end_matches('>')
            .trim_end_matches('/');
        let mut attributes = Vec::new();
        let mut rest = inner.trim_start();
        while !rest.is_empty() {
            let name_end = rest
                .find(|c: char| c == '=' || c.is_whitespace())
                .unwrap_or(rest.len());
            let name = rest[..name_end].to_owned();
            rest = &rest[name_end..];
            if let Some(value) = rest.strip_prefix('=') {
                let quote = value
                    .chars()
                    .next()
                    .filter(|c| *c == '"' || *c == '\'')
                    .ok_or_else(|| {
                        Error::Other(format!("index.html: {name}'s value is not quoted"))
                    })?;
                let value = &value[1..];
                let end = value.find(quote).ok_or_else(|| {
                    Error::Other(format!("index.html: {name}'s value never ends"))
                })?;
                attributes.push((name, Some(value[..end].to_owned())));
                rest = &value[end + 1..];
            } else {
                attributes.push((name, None));
            }
            rest = rest.trim_start();
        }
        Ok(Self(attributes))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, value)| value.as_deref())
    }

    fn require(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::Other(format!("index.html: a data-trunk link without {name}")))
    }
}

/// The stylesheet under a hashed name; its `<link>`.
fn stylesheet(dist: &Path, href: &str) -> Result<String> {
    let source = crate::root().join(href);
    let css = std::fs::read(&source).map_err(Error::io(format!("reading {href}")))?;
    let stem = source
        .file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or_else(|| Error::Other(format!("index.html: {href} names no file")))?;
    let name = format!("{stem}-{}.css", content_hash(&css));
    write(&dist.join(&name), &css)?;
    Ok(format!(
        r#"<link rel="stylesheet" href="/{name}" integrity="{}">"#,
        integrity(&css)
    ))
}

/// A folder copied as it is, under its own name.
fn copy_dir(dist: &Path, href: &str) -> Result {
    let source = crate::root().join(href);
    let name = source
        .file_name()
        .ok_or_else(|| Error::Other(format!("index.html: {href} names no folder")))?;
    copy_tree(&source, &dist.join(name))
}

fn copy_tree(from: &Path, to: &Path) -> Result {
    std::fs::create_dir_all(to).map_err(Error::io(format!("creating {}", to.display())))?;
    let reading = || Error::io(format!("reading {}", from.display()));
    for entry in std::fs::read_dir(from).map_err(reading())? {
        let path = entry.map_err(reading())?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)
                .map_err(Error::io(format!("copying {}", path.display())))?;
        }
    }
    Ok(())
}

/// The app: wasm-bindgen's JS and wasm under a name hashed from the build, shrunk by
/// wasm-opt; the loader and the preloads that fetch it all at once.
fn app(dist: &Path, rust: &Rust) -> Result<String> {
    let built = crate::target_dir()
        .join(TARGET)
        .join(&rust.profile)
        .join(format!("{}.wasm", rust.bin));
    let wasm = std::fs::read(&built).map_err(Error::io(format!("reading {}", built.display())))?;
    // The library checks that the app was built against its own version of
    // wasm-bindgen, and says so when it was not. The JS names no wasm file of its own:
    // the loader passes it, by its hashed name.
    wasm_bindgen_cli_support::Bindgen::new()
        .input_bytes(&rust.bin, wasm)
        .web(true)
        .and_then(|bindgen| {
            bindgen
                .typescript(false)
                .omit_default_module_path(true)
                .generate(dist)
        })
        .map_err(|error| Error::Other(format!("wasm-bindgen: {error:#}")))?;
    let bound = dist.join(format!("{}_bg.wasm", rust.bin));
    if let Some(level) = &rust.opt_level {
        shrink(&bound, level, &rust.opt_params)?;
    }
    // Named after what is served, as it is served: a new wasm-opt or new flags give new
    // names too, so a browser never pairs a cached file with a new page's integrity.
    let bound_js = dist.join(format!("{}.js", rust.bin));
    let read =
        |path: &Path| std::fs::read(path).map_err(Error::io(format!("reading {}", path.display())));
    let name = format!(
        "{}-{}",
        rust.bin,
        content_hash(&[read(&bound)?, read(&bound_js)?].concat())
    );
    let js = format!("{name}.js");
    let wasm = format!("{name}_bg.wasm");
    for (from, to) in [(&bound_js, &js), (&bound, &wasm)] {
        std::fs::rename(from, dist.join(to)).map_err(Error::io(format!("naming {to}")))?;
    }
    let mut preloads = vec![preload(dist, &js, r#"rel="modulepreload""#)?];
    let mut snippets = Vec::new();
    let snippet_dir = dist.join("snippets");
    if snippet_dir.exists() {
        files_under(&snippet_dir, &mut snippets)?;
    }
    snippets.sort();
    for snippet in snippets {
        let path = snippet
            .strip_prefix(dist)
            .map_err(|_| Error::Other("a snippet outside dist".into()))?
            .to_string_lossy()
            .replace('\\', "/");
        preloads.push(preload(dist, &path, r#"rel="modulepreload""#)?);
    }
    preloads.push(preload(
        dist,
        &wasm,
        r#"rel="preload" as="fetch" type="application/wasm""#,
    )?);
    Ok(format!(
        "<script type=\"module\">import init from '/{js}';\nawait init({{ module_or_path: '/{wasm}' }});</script>{}",
        preloads.concat()
    ))
}

/// `wasm-opt -O<level> <params>`, in place.
fn shrink(wasm: &Path, level: &str, params: &[String]) -> Result {
    let shrunk = wasm.with_extension("opt.wasm");
    crate::steps::run(
        &format!("wasm-opt -O{level}"),
        Command::new("wasm-opt")
            .arg(format!("-O{level}"))
            .args(params)
            .arg(wasm)
            .arg("-o")
            .arg(&shrunk),
    )?;
    std::fs::rename(&shrunk, wasm).map_err(Error::io("replacing the wasm with its shrunk copy"))
}

/// A `<link>` that fetches `path` early, checked by its integrity.
fn preload(dist: &Path, path: &str, kind: &str) -> Result<String> {
    let bytes = std::fs::read(dist.join(path)).map_err(Error::io(format!("reading {path}")))?;
    Ok(format!(
        r#"<link {kind} crossorigin href="/{path}" integrity="{}">"#,
        integrity(&bytes)
    ))
}

fn files_under(dir: &Path, files: &mut Vec<PathBuf>) -> Result {
    let reading = || Error::io(format!("reading {}", dir.display()));
    for entry in std::fs::read_dir(dir).map_err(reading())? {
        let path = entry.map_err(reading())?.path();
        if path.is_dir() {
            files_under(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result {
    std::fs::write(path, bytes).map_err(Error::io(format!("writing {}", path.display())))
}

/// Sixteen hex digits of the content's SHA-256: a new name whenever it changes, so a
/// browser never runs a cached copy of an old build.
fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Subresource integrity: the browser refuses a file that is not what the page names.
fn integrity(bytes: &[u8]) -> String {
    format!("sha384-{}", STANDARD.encode(Sha384::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_reads_quoted_and_bare_attributes() {
        let tag =
            r#"<link data-trunk rel="rust" data-bin='taskwire' data-wasm-opt-params="--a --b">"#;
        let Ok(attributes) = Attributes::parse(tag) else {
            panic!("{tag} did not parse");
        };
        assert_eq!(attributes.0[0], ("data-trunk".to_owned(), None));
        assert_eq!(attributes.get("rel"), Some("rust"));
        assert_eq!(attributes.get("data-bin"), Some("taskwire"));
        assert_eq!(attributes.get("data-wasm-opt-params"), Some("--a --b"));
        assert_eq!(attributes.get("data-trunk"), None);
        assert!(Attributes::parse(r#"<link rel=css>"#).is_err());
        assert!(Attributes::parse(r#"<link rel="css>"#).is_err());
    }
}
