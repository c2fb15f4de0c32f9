//! The size of what a visitor downloads: the release wasm and JS in dist/, raw and
//! compressed as a server would send them.

use std::io::Write;

use crate::Result;
use crate::error::Error;

pub struct Size {
    pub raw: usize,
    pub gzip: usize,
    pub brotli: usize,
}

/// Sums the wasm and JS files of dist/ (with the JS snippets wasm-bindgen puts in
/// dist/snippets/) and prints them one by one.
pub fn measure() -> Result<Size> {
    let dist = crate::root().join("dist");
    let mut total = Size {
        raw: 0,
        gzip: 0,
        brotli: 0,
    };
    let mut files = Vec::new();
    code_files(&dist, &mut files)?;
    files.sort();
    for path in files {
        let bytes =
            std::fs::read(&path).map_err(Error::io(format!("reading {}", path.display())))?;
        let size = Size {
            raw: bytes.len(),
            gzip: gzip(&bytes)?,
            brotli: brotli(&bytes)?,
        };
        println!(
            "    {:<40} {:>8} B raw {:>8} B gzip {:>8} B brotli",
            path.strip_prefix(&dist).unwrap_or(&path).display(),
            size.raw,
            size.gzip,
            size.brotli
        );
        total.raw += size.raw;
        total.gzip += size.gzip;
        total.brotli += size.brotli;
    }
    println!(
        "    {:<40} {:>8} B raw {:>8} B gzip {:>8} B brotli ({:.1} kB brotli)",
        "wasm + JS",
        total.raw,
        total.gzip,
        total.brotli,
        total.brotli as f64 / 1000.0
    );
    Ok(total)
}

/// The wasm and JS files under `dir`, at any depth.
fn code_files(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let reading = || Error::io(format!("reading {}", dir.display()));
    for entry in std::fs::read_dir(dir).map_err(reading())? {
        let path = entry.map_err(reading())?.path();
        if path.is_dir() {
            code_files(&path, files)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext == "wasm" || ext == "js")
        {
            files.push(path);
        }
    }
    Ok(())
}

fn gzip(bytes: &[u8]) -> Result<usize> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map(|out| out.len())
        .map_err(Error::io("gzip"))
}

fn brotli(bytes: &[u8]) -> Result<usize> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).map_err(Error::io("brotli"))?;
    Ok(out.len())
}
