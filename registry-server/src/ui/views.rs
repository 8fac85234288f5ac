//! The templates (`templates/`, compiled in by askama, which HTML-escapes every value
//! printed, in text and in attributes) and the values they print, ready to show.

use askama::Template;

use super::format::{DigestText, Size};

/// What every page's frame shows.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// `<http.prefix>/ui`, the base of every link.
    pub base: String,
    pub title: String,
    /// Breadcrumbs after the home link: (label, href).
    pub crumbs: Vec<(String, String)>,
    /// The registry's host as clients name it.
    pub host: String,
}

#[derive(Debug, Clone)]
pub struct PullCommand {
    pub tool: &'static str,
    pub command: String,
}

#[derive(Template)]
#[template(path = "repositories.html")]
pub struct RepositoriesPage {
    pub chrome: Chrome,
    pub filter: String,
    pub names: Vec<String>,
    pub scanned: usize,
    pub first_href: Option<String>,
    pub next_href: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TagView {
    pub tag: String,
    pub href: String,
    pub digest: Option<DigestText>,
    pub kind: &'static str,
    pub is_index: bool,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub size: Option<Size>,
    pub partial: bool,
    pub pushed: String,
    pub platforms: Vec<String>,
    pub problem: Option<String>,
    pub pulls: Vec<PullCommand>,
    pub delete_href: String,
}

#[derive(Template)]
#[template(path = "tags.html")]
pub struct TagsPage {
    pub chrome: Chrome,
    pub repo: String,
    pub rows: Vec<TagView>,
    pub can_delete: bool,
    pub first_href: Option<String>,
    pub next_href: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DescriptorView {
    pub digest: DigestText,
    pub media_type: String,
    pub size: Size,
    /// The manifest page of a manifest descriptor.
    pub href: String,
    pub platform: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReferrerView {
    pub digest: DigestText,
    pub href: String,
    pub artifact_type: String,
    pub size: Size,
    pub annotations: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct GroupView {
    pub title: &'static str,
    pub items: Vec<ReferrerView>,
}

#[derive(Template)]
#[template(path = "manifest.html")]
pub struct ManifestPage {
    pub chrome: Chrome,
    pub repo: String,
    /// `:tag` or `@digest`, as the page was asked for.
    pub separator: &'static str,
    pub reference: String,
    pub digest: DigestText,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub body_size: Size,
    pub total_size: Size,
    pub partial: bool,
    pub is_index: bool,
    pub platforms: Vec<String>,
    pub subject: Option<DescriptorView>,
    pub pulls: Vec<PullCommand>,
    pub config: Option<DescriptorView>,
    pub config_summary: Option<super::model::manifest::ConfigSummary>,
    pub config_note: Option<String>,
    pub layers: Vec<DescriptorView>,
    pub children: Vec<DescriptorView>,
    pub annotations: Vec<(String, String)>,
    pub groups: Vec<GroupView>,
    pub referrers_more: bool,
    pub can_delete: bool,
    pub delete_href: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub what: String,
    pub consequence: String,
    pub action_href: String,
    pub back_href: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub heading: String,
    pub message: String,
    pub is_error: bool,
    pub next_href: Option<String>,
    pub next_label: String,
}
