//! Generated requests: the API's URL shapes with valid, near-valid and broken names, digests,
//! tags and upload ids; query parameters, headers and bodies of every kind. A small model of
//! what the registry holds (repositories, blobs, manifests, open uploads with their bytes so
//! far) makes a good share of requests succeed, so that later ones reach deeper states.

use registry_core::domain::{Algorithm, Digest};
use serde_json::{Value, json};

use super::rng::Rng;

/// How a request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// reqwest, on a kept-alive connection.
    Client,
    /// Written byte for byte (paths an HTTP client would normalise), honest Content-Length.
    Raw,
    /// Content-Length says `declared`, fewer bytes follow, then the client closes its write
    /// side: a body that ends early.
    Truncated { declared: usize },
    /// Head and part of the body, then the connection is dropped without reading an answer.
    Abandoned,
    /// `Transfer-Encoding: chunked` in chunks of `chunk` bytes; `malformed` ends it with a
    /// chunk-size line that is no number instead of the last chunk.
    Chunked { chunk: usize, malformed: bool },
}

/// What the model learns from a successful answer.
#[derive(Debug, Clone)]
pub enum Learn {
    Nothing,
    /// A POST that may start an upload session (202 with `Docker-Upload-UUID`).
    UploadStarted {
        repo: String,
    },
    /// A PATCH of the `index`-th known upload with this body.
    Appended {
        index: usize,
        data: Vec<u8>,
    },
    /// A blob that is stored once the answer is 201.
    Blob {
        repo: String,
        data: Vec<u8>,
    },
    /// A manifest that is stored (and tagged) once the answer is 201.
    Manifest {
        repo: String,
        tag: Option<String>,
        body: Vec<u8>,
        media_type: String,
    },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, exactly as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub transport: Transport,
    pub learn: Learn,
}

impl Request {
    fn new(method: &str, target: String) -> Self {
        Request {
            method: method.to_owned(),
            target,
            headers: Vec::new(),
            body: Vec::new(),
            transport: Transport::Client,
            learn: Learn::Nothing,
        }
    }

    fn header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_owned(), value.into()));
    }

    /// A one-paragraph description, enough to replay the request by hand.
    pub fn describe(&self) -> String {
        let preview: String = String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            .chars()
            .map(|c| if c.is_control() { '.' } else { c })
            .collect();
        format!(
            "{} {} ({:?})\n  headers: {:?}\n  body: {} bytes: {preview:?}",
            self.method,
            self.target,
            self.transport,
            self.headers,
            self.body.len()
        )
    }
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// Methods: the API's, HTTP's others, WebDAV's, made-up and wrongly cased ones.
const METHODS: &[&str] = &[
    "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "MKCOL",
    "FOO", "get", "Put",
];

/// Names that are no repository name: case, empty and dot components, escapes, length.
const BAD_NAMES: &[&str] = &[
    "UPPER",
    "a//b",
    "_hidden",
    "a/_layers",
    "a__-b",
    "trailing-",
    "x/",
    "%41",
];

/// Path pieces an HTTP client would rewrite: only the raw transport sends them as they are.
const TRICKY_NAMES: &[&str] = &[
    "..",
    "a/../b",
    "%2e%2e",
    "a/%2e%2e/b",
    "a%2F%2Fb",
    "a%00",
    "caf%C3%A9",
    "a b",
    "%",
];

const TAGS: &[&str] = &["latest", "v1", "v1.0.0", "_x", "release-2"];

const CONTENT_TYPES: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_LIST,
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
    "application/octet-stream",
    "text/plain; charset=utf-8",
    "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
    "",
    ";;;",
];

/// At most this many of each kind of thing are remembered (the newest).
const MEMORY: usize = 40;

struct Blob {
    repo: String,
    digest: Digest,
    data: Vec<u8>,
}

struct Manifest {
    repo: String,
    digest: Digest,
    size: usize,
    media_type: String,
}

struct Upload {
    repo: String,
    id: String,
    data: Vec<u8>,
}

/// What the registry is believed to hold.
pub struct Model {
    repos: Vec<String>,
    blobs: Vec<Blob>,
    manifests: Vec<Manifest>,
    tags: Vec<(String, String)>,
    uploads: Vec<Upload>,
    /// During a burst of concurrent requests: the upload and the tag they all aim at, so
    /// that they race.
    focus_upload: Option<usize>,
    focus_tag: Option<(String, String)>,
}

fn remember<T>(list: &mut Vec<T>, item: T) {
    if list.len() >= MEMORY {
        list.remove(0);
    }
    list.push(item);
}

impl Model {
    pub fn new() -> Self {
        Model {
            repos: vec!["fuzz/app".into(), "fuzz/lib".into(), "solo".into()],
            blobs: Vec::new(),
            manifests: Vec::new(),
            tags: Vec::new(),
            uploads: Vec::new(),
            focus_upload: None,
            focus_tag: None,
        }
    }

    /// Aims the next requests at one upload and one tag.
    pub fn begin_burst(&mut self, rng: &mut Rng) {
        self.focus_upload = (!self.uploads.is_empty()).then(|| rng.below(self.uploads.len()));
        self.focus_tag = Some(match self.tags.is_empty() {
            true => (rng.pick(&self.repos).clone(), (*rng.pick(TAGS)).to_owned()),
            false => rng.pick(&self.tags).clone(),
        });
    }

    pub fn end_burst(&mut self) {
        self.focus_upload = None;
        self.focus_tag = None;
    }

    /// Updates the model from an answer's status and `Docker-Upload-UUID`.
    pub fn learn(&mut self, learn: &Learn, status: u16, upload_uuid: Option<&str>) {
        match learn {
            Learn::Nothing => {}
            Learn::UploadStarted { repo } => {
                if let (202, Some(id)) = (status, upload_uuid) {
                    let upload = Upload {
                        repo: repo.clone(),
                        id: id.to_owned(),
                        data: Vec::new(),
                    };
                    remember(&mut self.uploads, upload);
                }
            }
            Learn::Appended { index, data } => {
                if status == 202
                    && let Some(upload) = self.uploads.get_mut(*index)
                {
                    upload.data.extend_from_slice(data);
                }
            }
            Learn::Blob { repo, data } => {
                if status == 201 {
                    let blob = Blob {
                        repo: repo.clone(),
                        digest: Digest::sha256_of(data),
                        data: data.clone(),
                    };
                    remember(&mut self.blobs, blob);
                }
            }
            Learn::Manifest {
                repo,
                tag,
                body,
                media_type,
            } => {
                if status == 201 {
                    let manifest = Manifest {
                        repo: repo.clone(),
                        digest: Digest::sha256_of(body),
                        size: body.len(),
                        media_type: media_type.clone(),
                    };
                    remember(&mut self.manifests, manifest);
                    if let Some(tag) = tag {
                        remember(&mut self.tags, (repo.clone(), tag.clone()));
                    }
                }
            }
        }
    }

    /// The next request.
    pub fn generate(&mut self, rng: &mut Rng) -> Request {
        let mut request = match rng.below(100) {
            0..18 => self.blob_request(rng),
            18..36 => self.manifest_request(rng),
            36..52 => self.upload_start(rng),
            52..70 => self.upload_request(rng),
            70..78 => self.tags_request(rng),
            78..83 => catalog_request(rng),
            83..89 => self.referrers_request(rng),
            89..94 => base_request(rng),
            _ => garbage_request(rng),
        };
        // Any endpoint, any method, now and then.
        if rng.percent(7) {
            request.method = (*rng.pick(METHODS)).to_owned();
        }
        if request.method.bytes().any(|b| b.is_ascii_lowercase()) {
            request.transport = Transport::Raw;
        }
        if request.transport == Transport::Client {
            request.transport = match rng.below(100) {
                0..8 => Transport::Raw,
                8..13 if !request.body.is_empty() => Transport::Truncated {
                    declared: request.body.len() + 1 + rng.below(5000),
                },
                13..16 => Transport::Abandoned,
                16..20 if !request.body.is_empty() => Transport::Chunked {
                    chunk: 1 + rng.below(2000),
                    malformed: rng.percent(30),
                },
                _ => Transport::Client,
            };
        }
        if matches!(
            request.transport,
            Transport::Truncated { .. }
                | Transport::Abandoned
                | Transport::Chunked {
                    malformed: true,
                    ..
                }
        ) {
            // Nothing is learnt from a request that did not arrive whole.
            request.learn = Learn::Nothing;
        }
        request
    }

    /// A repository name for a URL, and whether only the raw transport may send it.
    fn name(&mut self, rng: &mut Rng) -> (String, bool) {
        match rng.below(100) {
            0..75 => (rng.pick(&self.repos).clone(), false),
            75..82 => {
                let fresh = format!("fresh{}/r{}", rng.below(50), rng.below(5));
                if self.repos.len() < 20 {
                    self.repos.push(fresh.clone());
                }
                (fresh, false)
            }
            82..88 => ((*rng.pick(BAD_NAMES)).to_owned(), false),
            88..91 => {
                // The length limit: 255 is valid, 256 is not.
                let len = 254 + rng.below(3);
                ("n".repeat(len), false)
            }
            91..94 => (rng.pick(&self.repos).replace('/', "%2F"), false),
            _ => ((*rng.pick(TRICKY_NAMES)).to_owned(), true),
        }
    }

    fn known_digest(&self, rng: &mut Rng) -> Option<Digest> {
        let blobs = self.blobs.len();
        let total = blobs + self.manifests.len();
        if total == 0 {
            return None;
        }
        let i = rng.below(total);
        Some(if i < blobs {
            self.blobs[i].digest.clone()
        } else {
            self.manifests[i - blobs].digest.clone()
        })
    }

    /// A digest for a URL or query: known, unknown, or malformed.
    fn digest_text(&self, rng: &mut Rng) -> String {
        match rng.below(100) {
            0..55 => match self.known_digest(rng) {
                Some(d) => d.to_string(),
                None => Digest::sha256_of(&rng.bytes(8)).to_string(),
            },
            55..70 => Digest::sha256_of(&rng.bytes(8)).to_string(),
            70..75 => Digest::of(Algorithm::Sha512, &rng.bytes(8)).to_string(),
            75..80 => format!("sha256%3A{}", Digest::sha256_of(b"x").hex()),
            _ => {
                let hex = Digest::sha256_of(&rng.bytes(4)).hex().to_owned();
                let broken = [
                    format!("sha256:{}", &hex[..63]),
                    format!("sha256:{hex}0"),
                    format!("sha256:{}", hex.to_uppercase()),
                    format!("md5:{}", &hex[..32]),
                    format!("sha384:{hex}"),
                    "sha256:".to_owned(),
                    ":".to_owned(),
                    "sha256".to_owned(),
                    format!("blake3:{hex}"),
                    format!("sha256:{}zz", &hex[..62]),
                ];
                rng.pick(&broken).clone()
            }
        }
    }

    fn tag_text(&self, rng: &mut Rng) -> String {
        match rng.below(100) {
            0..40 => {
                let tagged: Vec<&(String, String)> = self.tags.iter().collect();
                if tagged.is_empty() {
                    (*rng.pick(TAGS)).to_owned()
                } else {
                    rng.pick(&tagged).1.clone()
                }
            }
            40..75 => (*rng.pick(TAGS)).to_owned(),
            75..85 => {
                let len = 1 + rng.below(12);
                format!("t{}", rng.text("abcXYZ019._-", len))
            }
            85..92 => "t".repeat(127 + rng.below(3)),
            _ => (*rng.pick(&[".hidden", "-x", "a:b", "a%2Fb", "a+b", "%20"])).to_owned(),
        }
    }

    fn blob_request(&mut self, rng: &mut Rng) -> Request {
        let (name, tricky, digest) = if !self.blobs.is_empty() && rng.percent(50) {
            // A blob that is there (unless deleted since): ranges get served.
            let blob = rng.pick(&self.blobs);
            (blob.repo.clone(), false, blob.digest.to_string())
        } else {
            let (name, tricky) = self.name(rng);
            (name, tricky, self.digest_text(rng))
        };
        let method = *rng.pick(&["GET", "GET", "HEAD", "DELETE", "PUT"]);
        let mut r = Request::new(method, format!("/v2/{name}/blobs/{digest}"));
        if rng.percent(40) {
            r.header("Range", range_value(rng));
        }
        raw_if(&mut r, tricky);
        r
    }

    fn manifest_request(&mut self, rng: &mut Rng) -> Request {
        let (name, tricky, reference) = match (&self.focus_tag, rng.below(100)) {
            (Some((repo, tag)), 0..70) => (repo.clone(), false, tag.clone()),
            (_, 0..20) if !self.tags.is_empty() => {
                let (repo, tag) = rng.pick(&self.tags).clone();
                (repo, false, tag)
            }
            (_, 20..35) if !self.manifests.is_empty() => {
                let manifest = rng.pick(&self.manifests);
                (manifest.repo.clone(), false, manifest.digest.to_string())
            }
            _ => {
                let (name, tricky) = self.name(rng);
                let reference = if rng.percent(50) {
                    self.tag_text(rng)
                } else {
                    self.digest_text(rng)
                };
                (name, tricky, reference)
            }
        };
        let method = *rng.pick(&["GET", "HEAD", "PUT", "PUT", "PUT", "DELETE"]);
        let mut r = Request::new(method, format!("/v2/{name}/manifests/{reference}"));
        if method == "PUT" {
            let (body, media_type) = self.manifest_body(rng, &name);
            let content_type = match rng.below(10) {
                0..6 => Some(media_type.clone()),
                6..8 => Some((*rng.pick(CONTENT_TYPES)).to_owned()),
                _ => None,
            };
            if let Some(content_type) = content_type {
                r.header("Content-Type", content_type);
            }
            let tag = (!reference.contains(':')).then(|| reference.clone());
            r.learn = Learn::Manifest {
                repo: name.clone(),
                tag,
                body: body.clone(),
                media_type,
            };
            r.body = body;
        } else if rng.percent(30) {
            let accept = rng.pick(CONTENT_TYPES);
            r.header("Accept", format!("{accept}, */*;q=0.1"));
        }
        if rng.percent(5) {
            r.header("If-None-Match", format!("\"{}\"", self.digest_text(rng)));
        }
        raw_if(&mut r, tricky);
        r
    }

    /// A manifest or index over what the model knows, often mutated; with its media type.
    fn manifest_body(&self, rng: &mut Rng, repo: &str) -> (Vec<u8>, String) {
        let media_type = (*rng.pick(MANIFEST_TYPES)).to_owned();
        let descriptor = |digest: String, size: usize, media_type: &str| json!({"mediaType": media_type, "digest": digest, "size": size});
        let here: Vec<&Blob> = self.blobs.iter().filter(|b| b.repo == repo).collect();
        let blob = |rng: &mut Rng| -> Value {
            if !here.is_empty() && rng.percent(85) {
                let b = rng.pick(&here);
                descriptor(
                    b.digest.to_string(),
                    b.data.len(),
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                )
            } else {
                descriptor(
                    self.digest_text(rng),
                    rng.below(1000),
                    "application/x-thing",
                )
            }
        };
        let mut doc = if media_type == OCI_INDEX || media_type == DOCKER_LIST {
            let children: Vec<&Manifest> =
                self.manifests.iter().filter(|m| m.repo == repo).collect();
            let manifests: Vec<Value> = (0..rng.below(4))
                .map(|_| match children.is_empty() {
                    false => {
                        let m = rng.pick(&children);
                        descriptor(m.digest.to_string(), m.size, &m.media_type)
                    }
                    true => descriptor(self.digest_text(rng), rng.below(500), OCI_MANIFEST),
                })
                .collect();
            json!({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests})
        } else {
            let mut config = blob(rng);
            config["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
            let layers: Vec<Value> = (0..rng.below(4)).map(|_| blob(rng)).collect();
            json!({"schemaVersion": 2, "mediaType": media_type, "config": config, "layers": layers})
        };
        if rng.percent(15)
            && let Some(subject) = self.manifests.iter().find(|m| m.repo == repo)
        {
            doc["subject"] = descriptor(subject.digest.to_string(), subject.size, OCI_MANIFEST);
            doc["artifactType"] = json!(*rng.pick(&["application/spdx+json", "x/y", "bad"]));
        }
        if rng.percent(30) {
            mutate(rng, &mut doc);
        }
        let mut body = if rng.percent(20) {
            serde_json::to_vec_pretty(&doc)
        } else {
            serde_json::to_vec(&doc)
        }
        .unwrap_or_default();
        match rng.below(100) {
            0..5 => body.truncate(rng.below(body.len() + 1)),
            5..8 => {
                body = {
                    let len = rng.below(600);
                    rng.bytes(len)
                }
            }
            8..9 => body.clear(),
            _ => {}
        }
        (body, media_type)
    }

    fn upload_start(&mut self, rng: &mut Rng) -> Request {
        let (name, tricky) = self.name(rng);
        let slash = if rng.percent(90) { "/" } else { "" };
        let mut query = Vec::new();
        let mut body = Vec::new();
        let mut learn = Learn::UploadStarted { repo: name.clone() };
        match rng.below(100) {
            0..40 => {}
            40..70 => {
                // Monolithic: mostly the digest of the body sent.
                body = blob_bytes(rng);
                let digest = if rng.percent(80) {
                    Digest::sha256_of(&body).to_string()
                } else {
                    self.digest_text(rng)
                };
                query.push(format!("digest={digest}"));
                learn = Learn::Blob {
                    repo: name.clone(),
                    data: body.clone(),
                };
            }
            70..90 => {
                let from = match self.blobs.is_empty() || rng.percent(20) {
                    true => self.name(rng).0,
                    false => rng.pick(&self.blobs).repo.clone(),
                };
                query.push(format!("mount={}", self.digest_text(rng)));
                query.push(format!("from={from}"));
            }
            _ => {
                // Parameters half given, repeated or empty.
                let pieces = [
                    "mount=",
                    "from=x",
                    "digest=",
                    "digest",
                    "&&",
                    "mount=a&mount=b",
                ];
                for _ in 0..1 + rng.below(3) {
                    query.push((*rng.pick(&pieces)).to_owned());
                }
            }
        }
        if rng.percent(10) && body.is_empty() {
            let len = rng.below(100);
            body = rng.bytes(len);
        }
        let target = match query.is_empty() {
            true => format!("/v2/{name}/blobs/uploads{slash}"),
            false => format!("/v2/{name}/blobs/uploads{slash}?{}", query.join("&")),
        };
        let mut r = Request::new("POST", target);
        if !body.is_empty() && rng.percent(50) {
            r.header("Content-Type", "application/octet-stream");
        }
        r.body = body;
        r.learn = learn;
        raw_if(&mut r, tricky);
        r
    }

    fn upload_request(&mut self, rng: &mut Rng) -> Request {
        let known = !self.uploads.is_empty() && rng.percent(80);
        let (index, repo, id, so_far) = if known {
            let index = self
                .focus_upload
                .unwrap_or_else(|| rng.below(self.uploads.len()));
            let (repo, id, data) = {
                let u = &self.uploads[index];
                (u.repo.clone(), u.id.clone(), u.data.clone())
            };
            // Sometimes the right id under another repository.
            let repo = if rng.percent(90) {
                repo
            } else {
                self.name(rng).0
            };
            (Some(index), repo, id, data)
        } else {
            let id = match rng.below(4) {
                0 => uuid::Uuid::new_v4().to_string(),
                1 => uuid::Uuid::new_v4().to_string().to_uppercase(),
                2 => uuid::Uuid::new_v4().simple().to_string(),
                _ => (*rng.pick(&["x", "..", "%2e%2e", "a%2Fb", "_state", "0"])).to_owned(),
            };
            (None, self.name(rng).0, id, Vec::new())
        };
        let base = format!("/v2/{repo}/blobs/uploads/{id}");
        let mut r = match rng.below(100) {
            0..15 => Request::new("GET", base),
            15..55 => {
                let mut r = Request::new("PATCH", base);
                r.body = blob_bytes(rng);
                self.content_range(rng, &mut r, so_far.len());
                if let Some(index) = index {
                    r.learn = Learn::Appended {
                        index,
                        data: r.body.clone(),
                    };
                }
                r
            }
            55..90 => {
                let body = if rng.percent(50) {
                    Vec::new()
                } else {
                    blob_bytes(rng)
                };
                let whole = [so_far.as_slice(), body.as_slice()].concat();
                let digest = match rng.below(10) {
                    0..7 => Digest::sha256_of(&whole).to_string(),
                    7..8 => Digest::of(Algorithm::Sha512, &whole).to_string(),
                    _ => self.digest_text(rng),
                };
                let query = match rng.below(20) {
                    0 => String::new(),
                    1 => "?digest=".to_owned(),
                    _ => format!("?digest={digest}"),
                };
                let mut r = Request::new("PUT", format!("{base}{query}"));
                r.body = body;
                if !r.body.is_empty() {
                    self.content_range(rng, &mut r, so_far.len());
                }
                r.learn = Learn::Blob {
                    repo: repo.clone(),
                    data: whole,
                };
                r
            }
            _ => Request::new("DELETE", base),
        };
        if id.contains('%') || id.contains("..") {
            r.transport = Transport::Raw;
        }
        r
    }

    /// A `Content-Range` for a chunk: mostly where the upload stands, sometimes not.
    fn content_range(&self, rng: &mut Rng, r: &mut Request, offset: usize) {
        let len = r.body.len();
        let value = match rng.below(100) {
            0..45 => return,
            45..80 if len > 0 => format!("{offset}-{}", offset + len - 1),
            80..85 if len > 0 => format!("bytes {offset}-{}/*", offset + len - 1),
            85..90 => format!("{}-{}", offset + 1, offset + len),
            90..95 => format!("0-{}", u64::MAX),
            _ => range_value(rng),
        };
        r.header("Content-Range", value);
    }

    fn tags_request(&mut self, rng: &mut Rng) -> Request {
        let (name, tricky) = self.name(rng);
        let mut r = Request::new("GET", format!("/v2/{name}/tags/list{}", paging(rng)));
        raw_if(&mut r, tricky);
        r
    }

    fn referrers_request(&mut self, rng: &mut Rng) -> Request {
        let (name, tricky) = self.name(rng);
        let digest = self.digest_text(rng);
        let query = match rng.below(5) {
            0 => "?artifactType=application/spdx+json".to_owned(),
            1 => "?artifactType=".to_owned(),
            2 => "?artifactType=a%2Fb&artifactType=x".to_owned(),
            _ => String::new(),
        };
        let mut r = Request::new("GET", format!("/v2/{name}/referrers/{digest}{query}"));
        raw_if(&mut r, tricky);
        r
    }
}

fn raw_if(r: &mut Request, tricky: bool) {
    if tricky {
        r.transport = Transport::Raw;
    }
}

fn catalog_request(rng: &mut Rng) -> Request {
    Request::new("GET", format!("/v2/_catalog{}", paging(rng)))
}

fn base_request(rng: &mut Rng) -> Request {
    let path = *rng.pick(&["/v2/", "/v2", "/v2//", "/v2/?x=1", "/metrics", "/", "/v1/"]);
    let method = *rng.pick(&["GET", "HEAD"]);
    Request::new(method, path.to_owned())
}

/// Paths off the API's shapes, bytes an HTTP client would refuse to send.
fn garbage_request(rng: &mut Rng) -> Request {
    let pieces = [
        "v2",
        "_catalog",
        "blobs",
        "uploads",
        "manifests",
        "tags",
        "list",
        "referrers",
        "..",
        "%2e",
        "%",
        "%zz",
        "a",
        "~",
        "*",
        "?",
        "#",
        "&",
        "=",
        ";",
        "%00",
        "%FF",
    ];
    let mut path = String::new();
    for _ in 0..1 + rng.below(8) {
        path.push('/');
        let piece = *rng.pick(&pieces);
        path.push_str(piece);
    }
    if rng.percent(10) {
        path = "*".to_owned();
    }
    let method = *rng.pick(METHODS);
    let mut r = Request::new(method, path);
    if rng.percent(30) {
        let len = rng.below(200);
        r.body = rng.bytes(len);
    }
    r.transport = Transport::Raw;
    r
}

/// `?n=&last=` in any combination, valid or not.
fn paging(rng: &mut Rng) -> String {
    let n = [
        "",
        "0",
        "1",
        "2",
        "5",
        "100",
        "-1",
        "abc",
        "1.5",
        "+3",
        "99999999999999999999999",
        "18446744073709551615",
    ];
    let last = ["", "a", "latest", "v1", "zzzz", "fuzz%2Fapp", "%FF", "t"];
    let mut parts = Vec::new();
    if rng.percent(60) {
        parts.push(format!("n={}", rng.pick(&n)));
    }
    if rng.percent(50) {
        parts.push(format!("last={}", rng.pick(&last)));
    }
    match parts.is_empty() {
        true => String::new(),
        false => format!("?{}", parts.join("&")),
    }
}

/// `Range` values: the grammar's forms, and what goes wrong with them.
fn range_value(rng: &mut Rng) -> String {
    let a = rng.below(3000);
    let b = rng.below(3000);
    let forms = [
        format!("bytes={a}-{b}"),
        format!("bytes={a}-"),
        format!("bytes=-{b}"),
        "bytes=0-0".to_owned(),
        format!("bytes={a}-{b},{b}-"),
        "bytes=-".to_owned(),
        "bytes=".to_owned(),
        format!("items={a}-{b}"),
        format!("bytes={}-", u64::MAX),
        "bytes=18446744073709551616-".to_owned(),
        format!("bytes= {a} - {b} "),
        "bytes=-0".to_owned(),
        "garbage".to_owned(),
    ];
    rng.pick(&forms).clone()
}

/// Blob contents: mostly small, now and then up to 1 MiB (streaming, hashing in batches).
fn blob_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(100) {
        0..10 => 0,
        10..90 => rng.below(4096),
        90..97 => rng.below(64 * 1024),
        _ => rng.below(1024 * 1024),
    };
    rng.bytes(len)
}

/// One change that breaks a manifest a little: a field removed, retyped or wrong.
fn mutate(rng: &mut Rng, doc: &mut Value) {
    let Value::Object(map) = doc else {
        return;
    };
    let keys = [
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "manifests",
        "subject",
        "annotations",
    ];
    let key = (*rng.pick(&keys)).to_owned();
    let replacements = [
        Value::Null,
        json!(1),
        json!(-1),
        json!(1e300),
        json!(""),
        json!([]),
        json!({}),
        json!([{"mediaType": "", "digest": "sha256:x", "size": -5}]),
        json!({"mediaType": "a/b", "digest": Digest::sha256_of(b"").as_str(), "size": 0}),
        json!({"k": "v".repeat(1000)}),
    ];
    if rng.percent(30) {
        map.remove(&key);
    } else {
        map.insert(key, rng.pick(&replacements).clone());
    }
}
