//! The data folder, its checksum manifest (`SHA256SUMS`) and verified reads.
//!
//! Every file loaded through a [`DataDir`] is checked against the sha256 recorded in
//! `SHA256SUMS` (format of `sha256sum`: `<hex>  ./<relative path>`). A file that verified once
//! is remembered for the life of the process (keyed by path, size, modification time and
//! expected hash) so repeated loads do not rehash it.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::error::{DataError, RESTORE_HINT};

/// Name of the checksum manifest inside the data folder.
pub const MANIFEST: &str = "SHA256SUMS";

/// Environment variable that overrides the location of the data folder.
pub const DATA_ENV: &str = "FTNN_DATA";

/// The data folder shipped with the repository (or any folder laid out the same way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

/// Key of the in-process cache of verified files.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct VerifiedKey {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    sha256: String,
}

fn verified_cache() -> &'static Mutex<HashSet<VerifiedKey>> {
    static CACHE: OnceLock<Mutex<HashSet<VerifiedKey>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Forgets which files were already verified in this process, so the next load rehashes
/// them (used to time a cold load).
pub fn clear_checksum_cache() {
    if let Ok(mut cache) = verified_cache().lock() {
        cache.clear();
    }
}

/// Lower-case hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex sha256 of a file, streamed (for files too large to hold twice in memory).
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut file =
        std::fs::File::open(path).map_err(|e| DataError::from_io(path, e, RESTORE_HINT))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| DataError::Io {
            path: path.to_owned(),
            source: e,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Normalises a manifest or user-supplied relative name: `./a/b` → `a/b`.
fn normalise(name: &str) -> String {
    let mut s = name.trim().replace('\\', "/");
    while let Some(rest) = s.strip_prefix("./") {
        s = rest.to_owned();
    }
    s
}

/// Result of checking one manifest entry, see [`DataDir::verify_all`].
#[derive(Debug)]
pub struct FileCheck {
    /// Name relative to the data folder, as in the manifest.
    pub name: String,
    /// File size in bytes when the file could be read.
    pub size: Option<u64>,
    /// `Ok(())` when the checksum matches.
    pub result: Result<(), DataError>,
}

impl DataDir {
    /// A data folder at `path` (not checked until something is loaded).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DataDir { root: path.into() }
    }

    /// Finds the data folder: `$FTNN_DATA` if set; else the first `data/` holding a
    /// `SHA256SUMS` in the current directory or one of its ancestors; else the repository's
    /// `data/` next to this crate's sources (known at compile time).
    pub fn locate() -> Result<DataDir, DataError> {
        let cwd = std::env::current_dir().ok();
        Self::locate_with(std::env::var_os(DATA_ENV), cwd.as_deref())
    }

    /// [`DataDir::locate`] with the environment made explicit (for tests).
    pub fn locate_with(env: Option<OsString>, cwd: Option<&Path>) -> Result<DataDir, DataError> {
        let mut tried = Vec::new();
        if let Some(env) = env.filter(|e| !e.is_empty()) {
            let dir = PathBuf::from(env);
            if dir.join(MANIFEST).is_file() {
                return Ok(DataDir::new(dir));
            }
            // An explicit setting that does not work is an error, not something to skip.
            return Err(DataError::Missing {
                path: dir.join(MANIFEST),
                hint: format!(
                    "{DATA_ENV} is set to `{}` but that folder has no {MANIFEST}; point \
                     {DATA_ENV} at the ftnn `data/` folder or unset it",
                    dir.display()
                ),
            });
        }
        if let Some(cwd) = cwd {
            for dir in cwd.ancestors() {
                let candidate = dir.join("data");
                if candidate.join(MANIFEST).is_file() {
                    return Ok(DataDir::new(candidate));
                }
            }
            tried.push(format!("`data/{MANIFEST}` above `{}`", cwd.display()));
        }
        let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        if built_in.join(MANIFEST).is_file() {
            return Ok(DataDir::new(built_in));
        }
        tried.push(format!("`{}`", built_in.display()));
        Err(DataError::DataDirNotFound {
            tried: tried.join(", "),
        })
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Full path of a file given relative to the data folder (`mnist/…`); not checked.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(normalise(name))
    }

    /// Path of the manifest `SHA256SUMS`.
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }

    /// Reads `SHA256SUMS`: relative name → lower-case hex sha256, sorted by name.
    pub fn manifest(&self) -> Result<BTreeMap<String, String>, DataError> {
        let path = self.manifest_path();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| DataError::from_io(&path, e, RESTORE_HINT))?;
        let mut map = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| DataError::Csv {
                path: path.clone(),
                line: i + 1,
                reason: reason.to_owned(),
            };
            let (hash, name) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("expected `<sha256>  <file>`"))?;
            let hash = hash.to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("the checksum is not 64 hex digits"));
            }
            // `sha256sum` marks binary mode with a leading `*` on the name.
            let name = normalise(name.trim().trim_start_matches('*'));
            if name.is_empty() {
                return Err(bad("missing file name"));
            }
            map.insert(name, hash);
        }
        Ok(map)
    }

    /// The sha256 recorded for `name`, or [`DataError::Unlisted`].
    fn expected_sha256(&self, name: &str) -> Result<String, DataError> {
        let name = normalise(name);
        let manifest = self.manifest()?;
        manifest
            .get(&name)
            .cloned()
            .ok_or_else(|| DataError::Unlisted {
                path: self.root.join(&name),
                name,
                manifest: self.manifest_path(),
            })
    }

    fn cache_key(path: &Path, sha256: &str) -> Option<VerifiedKey> {
        let meta = std::fs::metadata(path).ok()?;
        Some(VerifiedKey {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()),
            len: meta.len(),
            modified: meta.modified().ok(),
            sha256: sha256.to_owned(),
        })
    }

    fn is_cached(key: &Option<VerifiedKey>) -> bool {
        match key {
            Some(k) => verified_cache()
                .lock()
                .map(|c| c.contains(k))
                .unwrap_or(false),
            None => false,
        }
    }

    fn remember(key: Option<VerifiedKey>) {
        if let (Some(k), Ok(mut cache)) = (key, verified_cache().lock()) {
            cache.insert(k);
        }
    }

    /// Reads a file of the data folder and checks its sha256 against the manifest.
    ///
    /// Errors: [`DataError::Missing`], [`DataError::Unlisted`],
    /// [`DataError::ChecksumMismatch`], [`DataError::Io`].
    pub fn read_verified(&self, name: &str) -> Result<Vec<u8>, DataError> {
        let expected = self.expected_sha256(name)?;
        let path = self.file(name);
        let key = Self::cache_key(&path, &expected);
        let bytes = std::fs::read(&path).map_err(|e| DataError::from_io(&path, e, RESTORE_HINT))?;
        if Self::is_cached(&key) {
            return Ok(bytes);
        }
        let actual = sha256_hex(&bytes);
        if actual != expected {
            return Err(DataError::ChecksumMismatch {
                path,
                expected,
                actual,
            });
        }
        Self::remember(key);
        Ok(bytes)
    }

    /// Checks a file's sha256 against the manifest without keeping its content; returns its
    /// full path (for readers that open the file themselves, e.g. PyTorch zip files).
    pub fn verified_path(&self, name: &str) -> Result<PathBuf, DataError> {
        let expected = self.expected_sha256(name)?;
        let path = self.file(name);
        if !path.is_file() {
            return Err(DataError::Missing {
                path,
                hint: RESTORE_HINT.to_owned(),
            });
        }
        let key = Self::cache_key(&path, &expected);
        if Self::is_cached(&key) {
            return Ok(path);
        }
        let actual = sha256_file(&path)?;
        if actual != expected {
            return Err(DataError::ChecksumMismatch {
                path,
                expected,
                actual,
            });
        }
        Self::remember(key);
        Ok(path)
    }

    /// Checks every file of the manifest (always rehashing) and reports each one.
    ///
    /// Fails only when the manifest itself cannot be read.
    pub fn verify_all(&self) -> Result<Vec<FileCheck>, DataError> {
        let manifest = self.manifest()?;
        let mut out = Vec::with_capacity(manifest.len());
        for (name, expected) in manifest {
            let path = self.file(&name);
            let size = std::fs::metadata(&path).ok().map(|m| m.len());
            let result = sha256_file(&path).and_then(|actual| {
                if actual == expected {
                    Self::remember(Self::cache_key(&path, &expected));
                    Ok(())
                } else {
                    Err(DataError::ChecksumMismatch {
                        path: path.clone(),
                        expected: expected.clone(),
                        actual,
                    })
                }
            });
            out.push(FileCheck { name, size, result });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_and_abc() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn normalise_names() {
        assert_eq!(normalise("./mnist/x.gz"), "mnist/x.gz");
        assert_eq!(normalise("mnist/x.gz"), "mnist/x.gz");
        assert_eq!(normalise(" ././a "), "a");
    }

    #[test]
    fn locate_prefers_env_then_ancestors() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir_all(data.join("x/y")).unwrap();
        std::fs::write(data.join(MANIFEST), "").unwrap();
        // Walk up from a nested folder.
        let found = DataDir::locate_with(None, Some(&data.join("x/y"))).unwrap();
        assert_eq!(found.path(), data.as_path());
        let found = DataDir::locate_with(None, Some(tmp.path())).unwrap();
        assert_eq!(found.path(), data.as_path());
        // The environment variable wins.
        let found = DataDir::locate_with(Some(data.clone().into()), Some(Path::new("/"))).unwrap();
        assert_eq!(found.path(), data.as_path());
        // A bad environment variable is an error that names it.
        let err = DataDir::locate_with(Some(tmp.path().join("nope").into()), None).unwrap_err();
        assert!(err.to_string().contains(DATA_ENV), "{err}");
    }

    #[test]
    fn locate_falls_back_to_the_repository() {
        // From `/` no ancestor has data/; the compile-time fallback is the repository's data/.
        let found = DataDir::locate_with(None, Some(Path::new("/"))).unwrap();
        assert!(found.manifest_path().is_file());
    }
}
