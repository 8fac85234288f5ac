//! Where the web view lives for one request: its base path, how clients name the registry,
//! the links between pages and the pull commands.

use actix_web::HttpRequest;

use super::views::{Chrome, PullCommand};
use crate::http::AppState;
use crate::http::percent::encode_query_value;

#[derive(Debug, Clone)]
pub struct Site {
    /// `<http.prefix>/ui`.
    pub base: String,
    /// `host[:port]` as clients pull from it: `http.host`'s authority, or the request's.
    pub host: String,
    /// Plain HTTP: pull commands need their clients' insecure flags.
    pub plain_http: bool,
}

impl Site {
    pub fn of(req: &HttpRequest, state: &AppState) -> Site {
        let info = req.connection_info();
        let (host, plain_http) = match &state.urls.host {
            Some(url) => {
                let plain = url.starts_with("http://");
                let authority = url
                    .split_once("://")
                    .map_or(url.as_str(), |(_, rest)| rest)
                    .split('/')
                    .next()
                    .unwrap_or_default();
                (authority.to_owned(), plain)
            }
            None => (info.host().to_owned(), info.scheme() == "http"),
        };
        Site {
            base: format!("{}/ui", state.urls.prefix),
            host,
            plain_http,
        }
    }

    pub fn chrome(&self, title: impl Into<String>, crumbs: Vec<(String, String)>) -> Chrome {
        Chrome {
            base: self.base.clone(),
            title: title.into(),
            crumbs,
            host: self.host.clone(),
        }
    }

    pub fn repositories(&self) -> String {
        format!("{}/", self.base)
    }

    /// The repositories page after `last`, with `filter`.
    pub fn repositories_page(&self, filter: &str, last: Option<&str>, n: usize) -> String {
        let mut query = Vec::new();
        if !filter.is_empty() {
            query.push(format!("filter={}", encode_query_value(filter)));
        }
        if let Some(last) = last {
            query.push(format!("last={}", encode_query_value(last)));
            query.push(format!("n={n}"));
        }
        if query.is_empty() {
            self.repositories()
        } else {
            format!("{}/?{}", self.base, query.join("&"))
        }
    }

    pub fn tags(&self, repo: &str) -> String {
        format!("{}/r/{repo}", self.base)
    }

    pub fn tags_page(&self, repo: &str, last: &str, n: usize) -> String {
        format!(
            "{}?last={}&n={n}",
            self.tags(repo),
            encode_query_value(last)
        )
    }

    pub fn manifest(&self, repo: &str, reference: &str) -> String {
        format!("{}/r/{repo}/-/m/{reference}", self.base)
    }

    pub fn delete(&self, repo: &str, reference: &str) -> String {
        format!("{}/r/{repo}/-/delete/{reference}", self.base)
    }

    /// Breadcrumbs down to `repo`.
    pub fn repo_crumbs(&self, repo: &str) -> Vec<(String, String)> {
        vec![(repo.to_owned(), self.tags(repo))]
    }

    /// `docker`, `podman` and `oras` commands pulling `repo` at `reference` (`:tag` or
    /// `@digest`, with its separator).
    pub fn pulls(&self, repo: &str, reference: &str) -> Vec<PullCommand> {
        let image = format!("{}/{repo}{reference}", self.host);
        let (podman, oras) = if self.plain_http {
            (" --tls-verify=false", " --plain-http")
        } else {
            ("", "")
        };
        vec![
            PullCommand {
                tool: "docker",
                command: format!("docker pull {image}"),
            },
            PullCommand {
                tool: "podman",
                command: format!("podman pull{podman} {image}"),
            },
            PullCommand {
                tool: "oras",
                command: format!("oras pull{oras} {image}"),
            },
        ]
    }
}
