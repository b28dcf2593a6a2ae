//! Slides made of several files (MIRAX: `.mrxs` and its folder; Hamamatsu VMS: `.vms` and its
//! JPEGs) arrive as one zip. The zip is what is stored; it is unpacked, once per process and
//! data folder, into `cache/unpacked/SHA256/` for OpenSlide, which reads local files only.
//! Unpacking is bounded: no entry may leave the folder, links are refused, and the bytes
//! written may not exceed what the zip declares nor a multiple of its own size.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The index files of multi-file slide formats that OpenSlide opens.
pub const SLIDE_INDEX_EXTENSIONS: [&str; 2] = ["mrxs", "vms"];

/// At most this many entries in a slide's zip.
const MAX_ENTRIES: usize = 200_000;
/// Unpacked bytes may be at most this many times the zip's size (slide tiles are JPEGs: zips
/// of them hardly compress), plus a little.
const MAX_RATIO: u64 = 4;
const SLACK: u64 = 64 << 20;

/// Whether the file starts as a zip does.
pub fn is_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

fn refusal(why: impl std::fmt::Display) -> String {
    format!(
        "this zip is not a slide Histoscore can read ({why}); send a MIRAX slide (the .mrxs \
         file and its folder) or a VMS slide (the .vms file and its JPEGs) zipped together"
    )
}

/// The slide index inside the zip at `path` (its path within the zip), or why the zip is
/// refused: it must hold exactly one `.mrxs` or `.vms` file.
pub fn slide_entry(path: &Path) -> Result<String, String> {
    let file = File::open(path).map_err(refusal)?;
    let mut zip = zip::ZipArchive::new(file).map_err(refusal)?;
    if zip.len() > MAX_ENTRIES {
        return Err(refusal(format!(
            "{} files, more than {MAX_ENTRIES}",
            zip.len()
        )));
    }
    let mut found = Vec::new();
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(refusal)?;
        let Some(name) = entry.enclosed_name() else {
            return Err(refusal(format!(
                "{:?} points outside the zip",
                entry.name()
            )));
        };
        let is_index = name.extension().is_some_and(|x| {
            SLIDE_INDEX_EXTENSIONS.contains(&x.to_string_lossy().to_lowercase().as_str())
        });
        if entry.is_file() && is_index {
            found.push(name.to_string_lossy().into_owned());
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(refusal("no .mrxs or .vms file in it")),
        n => Err(refusal(format!(
            "{n} slides in one zip; send one zip per slide"
        ))),
    }
}

/// Unpacks the zip at `zip_path` into `dest` (created; must not exist).
pub fn unpack(zip_path: &Path, dest: &Path) -> Result<(), String> {
    let size = std::fs::metadata(zip_path).map_err(refusal)?.len();
    let budget = size.saturating_mul(MAX_RATIO).saturating_add(SLACK);
    let mut zip = zip::ZipArchive::new(File::open(zip_path).map_err(refusal)?).map_err(refusal)?;
    std::fs::create_dir_all(dest).map_err(|e| e.to_string())?;
    let mut written: u64 = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(refusal)?;
        let Some(name) = entry.enclosed_name() else {
            return Err(refusal(format!(
                "{:?} points outside the zip",
                entry.name()
            )));
        };
        if entry.is_symlink() {
            return Err(refusal(format!("{name:?} is a link")));
        }
        let target = dest.join(&name);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let declared = entry.size();
        let mut out = File::create(&target).map_err(|e| e.to_string())?;
        // Never more than declared, nor past the budget, whatever the stream says.
        let allowed = declared.min(budget.saturating_sub(written));
        let copied = io::copy(&mut (&mut entry).take(allowed + 1), &mut out)
            .map_err(|e| refusal(format!("{name:?}: {e}")))?;
        if copied > allowed {
            return Err(refusal(format!(
                "{name:?} unpacks to more than it declares, or the zip to more than {} MB",
                budget >> 20
            )));
        }
        out.flush().map_err(|e| e.to_string())?;
        written += copied;
    }
    Ok(())
}

/// Unpacks `zip_path` into `dir` unless a complete copy is there: into a folder beside it
/// first, renamed into place when whole (a crash leaves no half-unpacked slide).
pub fn unpack_once(zip_path: &Path, dir: &Path) -> Result<(), String> {
    if dir.join(".complete").exists() {
        return Ok(());
    }
    let tmp = PathBuf::from(format!(
        "{}.{}-{}.partial",
        dir.display(),
        std::process::id(),
        crate::unique()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let made = unpack(zip_path, &tmp).and_then(|()| {
        File::create(tmp.join(".complete")).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(dir);
        std::fs::rename(&tmp, dir).map_err(|e| e.to_string())
    });
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        // Another process may have put a complete copy in place meanwhile.
        if dir.join(".complete").exists() {
            return Ok(());
        }
    }
    made
}

/// Where the slide zipped as `sha256` is unpacked under the data folder `data_dir`.
pub fn unpacked_dir(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("cache").join("unpacked").join(sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut z = zip::ZipWriter::new(f.reopen().unwrap());
        for (name, bytes) in entries {
            z.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
        f
    }

    #[test]
    fn a_slide_zip_holds_one_index_file() {
        let good = zip_of(&[("s/slide.vms", b"[x]"), ("s/slide.jpg", b"jpeg")]);
        assert!(is_zip(good.path()));
        assert_eq!(slide_entry(good.path()).unwrap(), "s/slide.vms");
        let none = zip_of(&[("a.txt", b"text")]);
        assert!(slide_entry(none.path())
            .unwrap_err()
            .contains("no .mrxs or .vms"));
        let two = zip_of(&[("a.mrxs", b"x"), ("b.vms", b"y")]);
        assert!(slide_entry(two.path())
            .unwrap_err()
            .contains("one zip per slide"));
        let not_zip = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(not_zip.path(), b"II*\0").unwrap();
        assert!(!is_zip(not_zip.path()));
    }

    #[test]
    fn unpacking_stays_inside_its_folder() {
        let evil = zip_of(&[("../../escape.vms", b"x")]);
        assert!(slide_entry(evil.path()).unwrap_err().contains("outside"));
        let dest = tempfile::tempdir().unwrap();
        assert!(unpack(evil.path(), &dest.path().join("u")).is_err());
        assert!(!dest.path().join("escape.vms").exists());

        let good = zip_of(&[("s/slide.vms", b"[x]"), ("s/Data/1.jpg", b"jpeg")]);
        let dir = dest.path().join("sha");
        unpack_once(good.path(), &dir).unwrap();
        assert_eq!(std::fs::read(dir.join("s/Data/1.jpg")).unwrap(), b"jpeg");
        assert!(dir.join(".complete").exists());
        // Once: a second call leaves it as it is.
        std::fs::write(dir.join("s/marker"), b"").unwrap();
        unpack_once(good.path(), &dir).unwrap();
        assert!(dir.join("s/marker").exists());
    }
}
