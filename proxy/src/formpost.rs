//! FormPost, as Swift's middleware: a browser POSTs an HTML form
//! (`multipart/form-data`) to `/v1/<account>/<container>[/<prefix>]`
//! without a token; the form's `signature` is an HMAC under one of the
//! account's or container's Temp-URL keys of
//! `"<path>\n<redirect>\n<max_file_size>\n<max_file_count>\n<expires>"`.
//! Each file field becomes the object `<prefix><filename>`, streamed
//! straight from the form into the object servers. The answer is a 303 to
//! `redirect` with `status` and `message` (or, without one, the status
//! itself).

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::errors::{explain, Response};
use crate::replicas::UploadSource;
use crate::server::Proxy;

/// The longest form value, and the longest part header section.
const MAX_VALUE: usize = 4096;
const MAX_PART_HEADERS: usize = 8192;

/// Whether a request is a form upload (POST of multipart/form-data).
pub fn is_form(method: &http::Method, headers: &HeaderMap) -> bool {
    method == http::Method::POST && boundary(headers).is_some()
}

fn boundary(h: &HeaderMap) -> Option<String> {
    let ct = h.get("content-type")?.to_str().ok()?;
    let (kind, params) = ct.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.eq_ignore_ascii_case("boundary") && !v.is_empty() && v.len() <= 200)
            .then(|| v.to_string())
    })
}

/// Why a form was refused before any file was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// 400: a malformed form or attribute.
    Invalid(String),
    /// 401: expired or not signed by a key.
    Unauthorized(String),
}

/// A part's headers: the form field's name, and a file's name and type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHead {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

/// `name="…"` (or `name=…`) of a Content-Disposition header.
fn param(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

fn parse_head(raw: &[u8]) -> Result<PartHead, FormError> {
    let text = std::str::from_utf8(raw).map_err(|_| FormError::Invalid("bad part".into()))?;
    let mut head = PartHead::default();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let Some((k, v)) = line.split_once(':') else {
            return Err(FormError::Invalid("bad part header".into()));
        };
        if k.trim().eq_ignore_ascii_case("content-disposition") {
            head.name = param(v, "name").unwrap_or_default();
            head.filename = param(v, "filename");
        } else if k.trim().eq_ignore_ascii_case("content-type") {
            head.content_type = Some(v.trim().to_string());
        }
    }
    Ok(head)
}

/// Reads a multipart body part by part, holding back only as many bytes
/// as a boundary could span.
#[derive(Debug)]
pub struct FormReader<S> {
    source: S,
    buf: BytesMut,
    /// `\r\n--<boundary>`.
    delimiter: Vec<u8>,
    /// The source ended.
    drained: bool,
    /// The closing delimiter was seen.
    finished: bool,
}

/// Where form bytes come from (the request body; bytes in tests).
pub trait FormSource: Send {
    fn next(&mut self) -> impl std::future::Future<Output = Option<Result<Bytes, ()>>> + Send;
}

impl FormSource for Incoming {
    async fn next(&mut self) -> Option<Result<Bytes, ()>> {
        loop {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(60), self.frame())
                .await
                .ok()?;
            match frame? {
                Err(_) => return Some(Err(())),
                Ok(f) => {
                    if let Ok(d) = f.into_data() {
                        return Some(Ok(d));
                    }
                }
            }
        }
    }
}

/// The first `needle` in `hay`, jumping between candidates on its first
/// byte (file bodies are searched for the boundary as they stream).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = hay.get(from..)?.iter().position(|b| *b == first) {
        let at = from + i;
        if hay.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

impl<S: FormSource> FormReader<S> {
    pub fn new(source: S, boundary: &str) -> FormReader<S> {
        // A leading CRLF lets the first delimiter look like the others.
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"\r\n");
        FormReader {
            source,
            buf,
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            drained: false,
            finished: false,
        }
    }

    async fn fill(&mut self) -> Result<bool, FormError> {
        if self.drained {
            return Ok(false);
        }
        match self.source.next().await {
            Some(Ok(b)) => {
                self.buf.extend_from_slice(&b);
                Ok(true)
            }
            Some(Err(())) => Err(FormError::Invalid("the form ended early".into())),
            None => {
                self.drained = true;
                Ok(false)
            }
        }
    }

    /// Skips to the next part and reads its headers; None after the last.
    pub async fn next_part(&mut self) -> Result<Option<PartHead>, FormError> {
        if self.finished {
            return Ok(None);
        }
        // Whatever is left of the current part goes.
        loop {
            if let Some(i) = find(&self.buf, &self.delimiter) {
                let _ = self.buf.split_to(i + self.delimiter.len());
                break;
            }
            let keep = self.buf.len().saturating_sub(self.delimiter.len());
            let _ = self.buf.split_to(keep);
            if !self.fill().await? {
                return Err(FormError::Invalid("no closing boundary".into()));
            }
        }
        while self.buf.len() < 2 {
            if !self.fill().await? {
                return Err(FormError::Invalid("no closing boundary".into()));
            }
        }
        if self.buf.starts_with(b"--") {
            self.finished = true;
            return Ok(None);
        }
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let raw = self.buf.split_to(end + 4);
                return parse_head(&raw[..end]).map(Some);
            }
            if self.buf.len() > MAX_PART_HEADERS {
                return Err(FormError::Invalid("part headers too long".into()));
            }
            if !self.fill().await? {
                return Err(FormError::Invalid("the form ended early".into()));
            }
        }
    }

    /// The next piece of the current part's body; None at its end.
    pub async fn body_chunk(&mut self) -> Result<Option<Bytes>, FormError> {
        loop {
            if let Some(i) = find(&self.buf, &self.delimiter) {
                if i == 0 {
                    return Ok(None);
                }
                return Ok(Some(self.buf.split_to(i).freeze()));
            }
            let safe = self.buf.len().saturating_sub(self.delimiter.len());
            if safe > 0 {
                return Ok(Some(self.buf.split_to(safe).freeze()));
            }
            if !self.fill().await? {
                return Err(FormError::Invalid("the form ended early".into()));
            }
        }
    }

    /// A form field's whole value.
    pub async fn value(&mut self) -> Result<String, FormError> {
        let mut v = Vec::new();
        while let Some(c) = self.body_chunk().await? {
            v.extend_from_slice(&c);
            if v.len() > MAX_VALUE {
                return Err(FormError::Invalid("form value too long".into()));
            }
        }
        String::from_utf8(v).map_err(|_| FormError::Invalid("form value not UTF-8".into()))
    }
}

/// One file of the form, streamed into its object with a size limit.
struct FileBody<'a, S> {
    form: &'a mut FormReader<S>,
    left: u64,
    /// The file was larger than max_file_size.
    too_big: bool,
    failed: bool,
}

impl<S: FormSource> UploadSource for FileBody<'_, S> {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, StatusCode>> {
        match self.form.body_chunk().await {
            Ok(Some(c)) if c.len() as u64 > self.left => {
                self.too_big = true;
                Some(Err(StatusCode::PAYLOAD_TOO_LARGE))
            }
            Ok(Some(c)) => {
                self.left -= c.len() as u64;
                Some(Ok(c))
            }
            Ok(None) => None,
            Err(_) => {
                self.failed = true;
                Some(Err(StatusCode::BAD_REQUEST))
            }
        }
    }
}

/// The form's attributes, as far as they came before the first file.
#[derive(Debug, Default)]
struct Attributes {
    redirect: String,
    max_file_size: String,
    max_file_count: String,
    expires: String,
    signature: String,
    delete_at: Option<String>,
    delete_after: Option<String>,
}

impl Attributes {
    fn set(&mut self, name: &str, value: String) {
        match name {
            "redirect" => self.redirect = value,
            "max_file_size" => self.max_file_size = value,
            "max_file_count" => self.max_file_count = value,
            "expires" => self.expires = value,
            "signature" => self.signature = value,
            "x_delete_at" => self.delete_at = Some(value),
            "x_delete_after" => self.delete_after = Some(value),
            _ => {}
        }
    }

    /// Checks expiry and signature; the limits (size, count).
    fn check(&self, path: &str, keys: &[String], now: u64) -> Result<(u64, u64), FormError> {
        let num = |v: &str, what: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| FormError::Invalid(format!("{what} invalid")))
        };
        let expires = num(&self.expires, "expires")?;
        let size = num(&self.max_file_size, "max_file_size")?;
        let count = num(&self.max_file_count, "max_file_count")?;
        if count == 0 {
            return Err(FormError::Invalid("max_file_count invalid".into()));
        }
        if now >= expires {
            return Err(FormError::Unauthorized("form expired".into()));
        }
        let message = format!(
            "{path}\n{}\n{}\n{}\n{}",
            self.redirect, self.max_file_size, self.max_file_count, self.expires
        );
        if !crate::tempurl::signature_matches(&self.signature, &[message], keys) {
            return Err(FormError::Unauthorized("invalid signature".into()));
        }
        Ok((size, count))
    }
}

/// The answer: a 303 to the redirect with status and message, or the
/// status itself.
fn finish(redirect: &str, status: StatusCode, message: &str) -> Response {
    let status_text = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    if redirect.is_empty() {
        let body = format!(
            "<html><body><p>Status: {status_text}</p><p>Message: {}</p></body></html>",
            stratus_common::http::xml_escape(message)
        );
        let mut r = explain(status, &body);
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("text/html"));
        return r;
    }
    // As Python's quote(): letters, digits and `-_.~` stay.
    const QUOTE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, QUOTE).to_string();
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let location = format!(
        "{redirect}{sep}status={}&message={}",
        status.as_u16(),
        enc(message)
    );
    let body = format!(
        "<html><body><p><a href=\"{}\">Click to continue...</a></p></body></html>",
        stratus_common::http::xml_escape(&location)
    );
    let mut r = explain(StatusCode::SEE_OTHER, &body);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/html"));
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert("location", v);
    }
    r
}

fn refused(e: FormError) -> Response {
    match e {
        FormError::Invalid(m) => explain(StatusCode::BAD_REQUEST, &format!("FormPost: {m}")),
        FormError::Unauthorized(m) => explain(StatusCode::UNAUTHORIZED, &format!("FormPost: {m}")),
    }
}

/// Handles a form upload to `/v1/<account>/<container>/<prefix>`.
pub async fn handle(
    proxy: &Proxy,
    (account, container, prefix): (&str, &str, &str),
    req: crate::server::Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let Some(boundary) = boundary(&parts.headers) else {
        return refused(FormError::Invalid("not a form".into()));
    };
    let path = if prefix.is_empty() {
        format!("/v1/{account}/{container}")
    } else {
        format!("/v1/{account}/{container}/{prefix}")
    };
    let keys = crate::tempurl::keys(proxy, account, container).await;
    let mut form = FormReader::new(body, &boundary);
    let mut attrs = Attributes::default();
    let mut limits = None;
    let mut stored = 0u64;
    loop {
        let head = match form.next_part().await {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => return refused(e),
        };
        let Some(filename) = head.filename.clone() else {
            match form.value().await {
                Ok(v) => attrs.set(&head.name, v),
                Err(e) => return refused(e),
            }
            continue;
        };
        // The first file: the attributes so far must check out.
        let (max_size, max_count) = match limits {
            Some(l) => l,
            None => match attrs.check(&path, &keys, crate::server::now_secs()) {
                Ok(l) => *limits.insert(l),
                Err(e) => return refused(e),
            },
        };
        if filename.is_empty() {
            continue; // an empty file input of the form
        }
        if stored >= max_count {
            return finish(
                &attrs.redirect,
                StatusCode::BAD_REQUEST,
                "max_file_count exceeded",
            );
        }
        let name = format!("{prefix}{filename}");
        let status = store(
            proxy,
            (account, container, &name),
            &head,
            &attrs,
            &mut form,
            max_size,
        )
        .await;
        match status {
            Ok(()) => stored += 1,
            Err((status, message)) => return finish(&attrs.redirect, status, &message),
        }
    }
    if limits.is_none() {
        // No file at all: the signature is still checked first.
        if let Err(e) = attrs.check(&path, &keys, crate::server::now_secs()) {
            return refused(e);
        }
        return finish(
            &attrs.redirect,
            StatusCode::BAD_REQUEST,
            "no files to process",
        );
    }
    finish(&attrs.redirect, StatusCode::CREATED, "")
}

/// Streams one file of the form into its object.
async fn store<S: FormSource>(
    proxy: &Proxy,
    (account, container, name): (&str, &str, &str),
    head: &PartHead,
    attrs: &Attributes,
    form: &mut FormReader<S>,
    max_size: u64,
) -> Result<(), (StatusCode, String)> {
    if name.len() > crate::server::MAX_OBJECT_NAME {
        return Err((StatusCode::BAD_REQUEST, "object name too long".into()));
    }
    let mut h = HeaderMap::new();
    let content_type = head
        .content_type
        .clone()
        .unwrap_or_else(|| crate::object::guess_content_type(name).to_string());
    let mut set = |n: &'static str, v: &str| -> Result<(), (StatusCode, String)> {
        let v = HeaderValue::from_str(v)
            .map_err(|_| (StatusCode::BAD_REQUEST, format!("invalid {n}")))?;
        h.insert(n, v);
        Ok(())
    };
    set("content-type", &content_type)?;
    set("x-timestamp", &crate::object::now_timestamp())?;
    set("transfer-encoding", "chunked")?;
    let now = crate::server::now_secs();
    let delete_at = match (&attrs.delete_at, &attrs.delete_after) {
        (Some(at), _) => Some(at.trim().parse::<u64>()),
        (None, Some(after)) => Some(after.trim().parse::<u64>().map(|a| now + a)),
        _ => None,
    };
    if let Some(at) = delete_at {
        let at = at.map_err(|_| (StatusCode::BAD_REQUEST, "x_delete_at invalid".to_string()))?;
        set("x-delete-at", &at.to_string())?;
    }
    let Some(info) = crate::db::container_info(proxy, account, container).await else {
        return Err((StatusCode::NOT_FOUND, "container not found".into()));
    };
    if crate::quota::check_upload(proxy, account, container, &info, 0)
        .await
        .is_err()
    {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "Upload exceeds quota.".into(),
        ));
    }
    let mut file = FileBody {
        form,
        left: max_size,
        too_big: false,
        failed: false,
    };
    let resp = crate::subrequest::upload_to(proxy, (account, container, name), &h, &mut file).await;
    if file.too_big {
        return Err((StatusCode::BAD_REQUEST, "max_file_size exceeded".into()));
    }
    if file.failed {
        return Err((StatusCode::BAD_REQUEST, "the form ended early".into()));
    }
    match resp.status() {
        StatusCode::CREATED => Ok(()),
        s => Err((s, format!("upload failed: {}", s.as_u16()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes handed over in pieces of `step`.
    #[derive(Debug)]
    struct Pieces(Vec<u8>, usize);

    impl FormSource for Pieces {
        async fn next(&mut self) -> Option<Result<Bytes, ()>> {
            if self.0.is_empty() {
                return None;
            }
            let n = self.1.min(self.0.len());
            Some(Ok(Bytes::from(self.0.drain(..n).collect::<Vec<u8>>())))
        }
    }

    const FORM: &str = "--XyZ\r\nContent-Disposition: form-data; name=\"redirect\"\r\n\r\n\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"expires\"\r\n\r\n1700000000\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"file1\"; filename=\"a.txt\"\r\n\
        Content-Type: text/plain\r\n\r\nhello\r\n--X not yet\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"file2\"; filename=\"b.bin\"\r\n\r\n\r\n\
        --XyZ--\r\n";

    async fn read_all(step: usize) -> Vec<(PartHead, Vec<u8>)> {
        let mut r = FormReader::new(Pieces(FORM.as_bytes().to_vec(), step), "XyZ");
        let mut out = Vec::new();
        while let Some(h) = r.next_part().await.unwrap() {
            let mut body = Vec::new();
            while let Some(c) = r.body_chunk().await.unwrap() {
                body.extend_from_slice(&c);
            }
            out.push((h, body));
        }
        out
    }

    #[tokio::test]
    async fn parts_in_any_pieces() {
        for step in [1, 2, 3, 7, 64, 10_000] {
            let parts = read_all(step).await;
            let names: Vec<&str> = parts.iter().map(|(h, _)| h.name.as_str()).collect();
            assert_eq!(names, ["redirect", "expires", "file1", "file2"], "{step}");
            assert_eq!(parts[0].1, b"");
            assert_eq!(parts[1].1, b"1700000000");
            assert_eq!(parts[2].0.filename.as_deref(), Some("a.txt"));
            assert_eq!(parts[2].0.content_type.as_deref(), Some("text/plain"));
            assert_eq!(parts[2].1, b"hello\r\n--X not yet");
            assert_eq!(parts[3].1, b"");
        }
    }

    #[tokio::test]
    async fn broken_forms_are_errors() {
        for bad in [
            "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            "--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--",
            "nothing at all",
        ] {
            let mut r = FormReader::new(Pieces(bad.as_bytes().to_vec(), 5), "XyZ");
            let mut failed = false;
            for _ in 0..4 {
                match r.next_part().await {
                    Err(_) => {
                        failed = true;
                        break;
                    }
                    Ok(None) => break,
                    Ok(Some(_)) => {
                        if r.value().await.is_err() {
                            failed = true;
                            break;
                        }
                    }
                }
            }
            assert!(failed, "{bad}");
        }
    }

    #[test]
    fn attributes_and_signatures() {
        let path = "/v1/AUTH_a/c/up/";
        let keys = vec!["k".to_string()];
        let message = format!("{path}\nhttps://x/done\n1024\n2\n2000");
        let sig = {
            use hmac::{Hmac, Mac};
            let mut m = <Hmac<sha1::Sha1> as Mac>::new_from_slice(b"k").unwrap();
            m.update(message.as_bytes());
            hex::encode(m.finalize().into_bytes())
        };
        let mut a = Attributes::default();
        for (k, v) in [
            ("redirect", "https://x/done"),
            ("max_file_size", "1024"),
            ("max_file_count", "2"),
            ("expires", "2000"),
            ("signature", sig.as_str()),
        ] {
            a.set(k, v.into());
        }
        assert_eq!(a.check(path, &keys, 1000), Ok((1024, 2)));
        assert_eq!(
            a.check(path, &keys, 2000),
            Err(FormError::Unauthorized("form expired".into()))
        );
        assert!(matches!(
            a.check("/v1/AUTH_a/c/other/", &keys, 1000),
            Err(FormError::Unauthorized(_))
        ));
        a.set("max_file_size", "lots".into());
        assert!(matches!(
            a.check(path, &keys, 1000),
            Err(FormError::Invalid(_))
        ));
        let r = finish("https://x/done?a=1", StatusCode::CREATED, "");
        assert_eq!(r.status(), 303);
        assert_eq!(
            r.headers()["location"],
            "https://x/done?a=1&status=201&message="
        );
    }

    #[test]
    fn boundaries_from_content_types() {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "multipart/form-data; boundary=\"abc\"".parse().unwrap(),
        );
        assert_eq!(boundary(&h).as_deref(), Some("abc"));
        h.insert("content-type", "text/plain".parse().unwrap());
        assert_eq!(boundary(&h), None);
    }

    proptest! {
        #[test]
        fn garbage_forms_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), step in 1usize..50) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let mut r = FormReader::new(Pieces(body, step), "b");
                for _ in 0..20 {
                    match r.next_part().await {
                        Ok(Some(_)) => { let _ = r.value().await; }
                        _ => break,
                    }
                }
            });
        }
    }
}
