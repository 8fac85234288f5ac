//! The web view's URLs, below `<http.prefix>/ui`:
//!
//! | path | page |
//! |---|---|
//! | `/ui/` | repositories (`?filter=&last=&n=`) |
//! | `/ui/r/<name>` | a repository's tags (`?last=&n=`) |
//! | `/ui/r/<name>/-/m/<reference>` | one manifest, by tag or digest |
//! | `/ui/r/<name>/-/delete/<reference>` | GET: the confirmation; POST: the delete |
//! | `/ui/assets/<file>` | the stylesheet and script compiled into the binary |
//!
//! Repository names contain slashes, so what follows a name is introduced by a `-`
//! component, which no name can contain (each component starts with a letter or digit).

use registry_core::domain::RepositoryName;

use crate::http::percent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiRoute {
    /// `/ui` without its slash: redirected to `/ui/`.
    Root,
    Repositories,
    Tags(RepositoryName),
    Manifest(RepositoryName, String),
    Delete(RepositoryName, String),
    Asset(String),
}

/// Recognises `path` (below the prefix, starting with `/ui`); `None` for anything else under
/// `/ui` (a 404 page).
pub fn recognise(path: &str) -> Option<UiRoute> {
    let rest = path.strip_prefix("/ui")?;
    if rest.is_empty() {
        return Some(UiRoute::Root);
    }
    let rest = rest.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(UiRoute::Repositories);
    }
    if let Some(file) = rest.strip_prefix("assets/") {
        return Some(UiRoute::Asset(file.to_owned()));
    }
    let rest = rest.strip_prefix("r/")?;
    let (name, action) = match rest.split_once("/-/") {
        Some((name, action)) => (name, Some(action)),
        None => (rest, None),
    };
    let name: RepositoryName = percent::decode(name).parse().ok()?;
    let Some(action) = action else {
        return Some(UiRoute::Tags(name));
    };
    let (kind, reference) = action.split_once('/')?;
    let reference = percent::decode(reference);
    if reference.is_empty() || reference.contains('/') {
        return None;
    }
    match kind {
        "m" => Some(UiRoute::Manifest(name, reference)),
        "delete" => Some(UiRoute::Delete(name, reference)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> RepositoryName {
        s.parse().unwrap()
    }

    #[test]
    fn recognises_each_page() {
        let cases = [
            ("/ui", UiRoute::Root),
            ("/ui/", UiRoute::Repositories),
            ("/ui/assets/style.css", UiRoute::Asset("style.css".into())),
            ("/ui/r/a/b", UiRoute::Tags(n("a/b"))),
            ("/ui/r/a/-/m/v1", UiRoute::Manifest(n("a"), "v1".into())),
            (
                "/ui/r/a/b/-/m/sha256%3Aab",
                UiRoute::Manifest(n("a/b"), "sha256:ab".into()),
            ),
            (
                "/ui/r/x/m/y/-/delete/v1",
                UiRoute::Delete(n("x/m/y"), "v1".into()),
            ),
        ];
        for (path, route) in cases {
            assert_eq!(recognise(path), Some(route), "{path}");
        }
    }

    #[test]
    fn refuses_the_rest() {
        for path in [
            "/uix",
            "/ui/r/",
            "/ui/r/A",
            "/ui/r/a/../b",
            "/ui/r/a/-/m/",
            "/ui/r/a/-/m/x/y",
            "/ui/r/a/-/other/x",
            "/ui/r/a/-/m",
            "/ui/somewhere",
        ] {
            assert_eq!(recognise(path), None, "{path}");
        }
    }
}
