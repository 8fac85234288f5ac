//! The stylesheet and script, compiled into the binary.

pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static str,
}

pub fn find(name: &str) -> Option<Asset> {
    match name {
        "style.css" => Some(Asset {
            content_type: "text/css; charset=utf-8",
            body: include_str!("assets/style.css"),
        }),
        "app.js" => Some(Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_str!("assets/app.js"),
        }),
        _ => None,
    }
}
