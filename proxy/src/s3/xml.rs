//! Reading the small, fixed-shape XML bodies S3 requests carry
//! (CompleteMultipartUpload, Delete): the elements of a root, the text of
//! a child, entities decoded. Anything else is `MalformedXML`.

use super::errors::S3Error;

/// The largest request XML read.
pub const MAX_BODY: usize = 1 << 20;

pub fn malformed() -> S3Error {
    S3Error::new(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema.",
    )
}

/// The inside of the `root` element (attributes such as xmlns allowed).
pub fn root<'a>(body: &'a [u8], root: &str) -> Result<&'a str, S3Error> {
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    let open = text.find(&format!("<{root}")).ok_or_else(malformed)?;
    let after = &text[open + root.len() + 1..];
    // `<Root>` or `<Root xmlns=…>`, not `<RootOther>`; `<Root/>` is empty.
    if !after.starts_with(['>', '/', ' ', '\t', '\r', '\n']) {
        return Err(malformed());
    }
    let close = after.find('>').ok_or_else(malformed)?;
    if after[..close].ends_with('/') {
        return Ok("");
    }
    let start = open + root.len() + 1 + close + 1;
    let end = text.rfind(&format!("</{root}>")).ok_or_else(malformed)?;
    text.get(start..end).ok_or_else(malformed)
}

/// Every `<tag>…</tag>` element's inside, in order (at most `limit`).
pub fn elements<'a>(inside: &'a str, tag: &str, limit: usize) -> Result<Vec<&'a str>, S3Error> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = inside;
    while let Some(s) = rest.find(&open) {
        let body = &rest[s + open.len()..];
        let e = body.find(&close).ok_or_else(malformed)?;
        out.push(&body[..e]);
        if out.len() > limit {
            return Err(malformed());
        }
        rest = &body[e + close.len()..];
    }
    Ok(out)
}

/// The decoded text of the first `<tag>` child.
pub fn text(inside: &str, tag: &str) -> Option<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let s = inside.find(&open)? + open.len();
    let e = s + inside[s..].find(&close)?;
    unescape(&inside[s..e])
}

/// XML entities (`&amp;` … `&#x41;`) decoded; None for a broken one.
pub fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let end = tail.find(';')?;
        let name = &tail[..end];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = name.strip_prefix('#')?;
                let code = match n.strip_prefix('x') {
                    Some(h) => u32::from_str_radix(h, 16).ok()?,
                    None => n.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_fixed_shapes() {
        let body =
            b"<?xml version=\"1.0\"?><Delete xmlns=\"x\"><Object><Key>a&amp;b</Key></Object>\
                     <Object><Key>&#x41;&#66;</Key></Object><Quiet>true</Quiet></Delete>";
        let inside = root(body, "Delete").unwrap();
        let objects = elements(inside, "Object", 10).unwrap();
        let keys: Vec<String> = objects.iter().map(|o| text(o, "Key").unwrap()).collect();
        assert_eq!(keys, vec!["a&b", "AB"]);
        assert_eq!(text(inside, "Quiet").as_deref(), Some("true"));
        assert!(root(b"<DeleteMore></DeleteMore>", "Delete").is_err());
        assert_eq!(
            root(b"<Tagging><TagSet/></Tagging>", "Tagging").unwrap(),
            "<TagSet/>"
        );
        assert_eq!(root(b"<TagSet />", "TagSet").unwrap(), "");
        assert!(elements(inside, "Object", 1).is_err(), "over the limit");
        assert_eq!(unescape("&bogus;"), None);
        assert_eq!(unescape("&#xD800;"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            if let Ok(inside) = root(s.as_bytes(), "Delete") {
                for e in elements(inside, "Object", 1000).unwrap_or_default() {
                    let _ = text(e, "Key");
                }
            }
            let _ = unescape(&s);
        }
    }
}
