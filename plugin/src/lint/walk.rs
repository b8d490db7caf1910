//! The files named on the command line: files as given, directories walked in sorted order for
//! the extensions asked for. Symbolic links are followed, but a directory already on the path
//! being walked (a link loop) is not entered again, and each file is listed once however many
//! links lead to it.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::yaml::LoadError;

/// How deep directories may nest below a path given; deeper trees are not configuration.
const MAX_DEPTH: usize = 32;

/// A file or directory as the filesystem knows it, whatever path reached it.
type Identity = (u64, u64);

fn identity(path: &Path) -> Option<Identity> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The files under `paths` whose extension is one of `extensions` (files named explicitly are
/// taken whatever their extension).
pub fn files(paths: &[PathBuf], extensions: &[&str]) -> Result<Vec<PathBuf>, LoadError> {
    let mut walker = Walker {
        extensions,
        seen_files: HashSet::new(),
        out: Vec::new(),
    };
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| {
            LoadError(if e.kind() == std::io::ErrorKind::NotFound {
                format!("{}: no such file or directory", p.display())
            } else {
                format!("{}: cannot read: {e}", p.display())
            })
        })?;
        if meta.is_dir() {
            let mut open = Vec::new();
            walker.dir(p, &mut open, 0)?;
        } else if walker.seen_files.insert((meta.dev(), meta.ino())) {
            walker.out.push(p.clone());
        }
    }
    Ok(walker.out)
}

struct Walker<'a> {
    extensions: &'a [&'a str],
    seen_files: HashSet<Identity>,
    out: Vec<PathBuf>,
}

impl Walker<'_> {
    /// Walks `dir`; `open` holds the directories on the current path (to refuse loops).
    fn dir(&mut self, dir: &Path, open: &mut Vec<Identity>, depth: usize) -> Result<(), LoadError> {
        let Some(id) = identity(dir) else {
            return Ok(());
        };
        if open.contains(&id) {
            // A link back to a directory being walked: following it would never end.
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(LoadError(format!(
                "{}: directories nest deeper than {MAX_DEPTH} levels below the path given: name a directory closer to the files",
                dir.display()
            )));
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| LoadError(format!("{}: cannot read directory: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        open.push(id);
        for p in entries {
            let Ok(meta) = std::fs::metadata(&p) else {
                // A dangling link: nothing to read.
                continue;
            };
            if meta.is_dir() {
                if p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                {
                    continue; // .git and the like
                }
                self.dir(&p, open, depth + 1)?;
            } else if self.wanted(&p) && self.seen_files.insert((meta.dev(), meta.ino())) {
                self.out.push(p);
            }
        }
        open.pop();
        Ok(())
    }

    fn wanted(&self, p: &Path) -> bool {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| self.extensions.contains(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_loops_end_and_each_file_is_listed_once() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/rules.yaml"), "groups: []\n").unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("a/b/back")).unwrap();
        std::os::unix::fs::symlink(root.join("a/b/rules.yaml"), root.join("a/again.yaml")).unwrap();
        let found = files(&[root.to_path_buf()], &["yaml"]).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
