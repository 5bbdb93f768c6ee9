//! Tag sets of buckets and objects: parsed from `Tagging` XML or an
//! `x-amz-tagging` header (`k=v&k2=v2`), checked against S3's limits, kept
//! as one URL-encoded sysmeta value and rendered back as XML.

use http::HeaderMap;

use super::errors::{xml_escape, S3Error};
use super::xml;

/// Object sysmeta holding the tags (a POST can replace it, unlike sysmeta).
pub const OBJECT_SYSMETA: &str = "x-object-transient-sysmeta-s3-tagging";
/// Container sysmeta name (after `x-container-sysmeta-`) of a bucket's tags.
pub const BUCKET_SYSMETA: &str = "s3-tagging";

pub const MAX_OBJECT_TAGS: usize = 10;
pub const MAX_BUCKET_TAGS: usize = 50;

pub type Tags = Vec<(String, String)>;

fn invalid(message: &str) -> S3Error {
    S3Error::new("InvalidTag", message.to_string())
}

/// S3's rules: at most `max` tags, keys 1–128 and values 0–256 characters,
/// no `aws:` prefix, no key twice.
pub fn check(tags: &Tags, max: usize) -> Result<(), S3Error> {
    if tags.len() > max {
        return Err(S3Error::new(
            "BadRequest",
            format!("Object tags cannot be greater than {max}"),
        ));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > 256 {
            return Err(invalid("The TagValue you have provided is invalid"));
        }
        if k.starts_with("aws:") {
            return Err(invalid("Your TagKey cannot be prefixed with aws:"));
        }
        if tags[..i].iter().any(|(seen, _)| seen == k) {
            return Err(invalid("Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(())
}

/// A `Tagging` request body.
pub fn from_xml(body: &[u8], max: usize) -> Result<Tags, S3Error> {
    let inside = xml::root(body, "Tagging")?;
    let set = xml::root(inside.as_bytes(), "TagSet")?;
    let tags = xml::elements(set, "Tag", max.max(1) * 2)?
        .into_iter()
        .map(|t| {
            let k = xml::text(t, "Key").ok_or_else(xml::malformed)?;
            let v = xml::text(t, "Value").unwrap_or_default();
            Ok((k, v))
        })
        .collect::<Result<Tags, S3Error>>()?;
    check(&tags, max)?;
    Ok(tags)
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The stored (and `x-amz-tagging`) form.
pub fn encode(tags: &Tags) -> String {
    tags.iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Parses the stored or `x-amz-tagging` form.
pub fn decode(s: &str) -> Result<Tags, S3Error> {
    let dec = |p: &str| {
        percent_encoding::percent_decode_str(&p.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| invalid("The header 'x-amz-tagging' shall be encoded as UTF-8"))
    };
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((dec(k)?, dec(v)?))
        })
        .collect()
}

/// `x-amz-tagging` of a PutObject, checked, in its stored form.
pub fn from_headers(h: &HeaderMap) -> Result<Option<String>, S3Error> {
    let Some(v) = h.get("x-amz-tagging") else {
        return Ok(None);
    };
    let tags = decode(v.to_str().map_err(|_| invalid("Invalid x-amz-tagging"))?)?;
    check(&tags, MAX_OBJECT_TAGS)?;
    Ok(Some(encode(&tags)))
}

/// The `Tagging` answer.
pub fn to_xml(tags: &Tags) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging xmlns=\"{}\"><TagSet>",
        super::bucket::XMLNS
    );
    for (k, v) in tags {
        out.push_str(&format!(
            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
            xml_escape(k),
            xml_escape(v)
        ));
    }
    out.push_str("</TagSet></Tagging>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tag_sets_round_trip_and_are_checked() {
        let body = b"<Tagging><TagSet><Tag><Key>a b</Key><Value>x&amp;y</Value></Tag>\
                     <Tag><Key>k</Key><Value></Value></Tag></TagSet></Tagging>";
        let tags = from_xml(body, MAX_OBJECT_TAGS).unwrap();
        assert_eq!(
            tags,
            vec![("a b".into(), "x&y".into()), ("k".into(), "".into())]
        );
        assert_eq!(decode(&encode(&tags)).unwrap(), tags);
        assert_eq!(from_xml(&to_xml(&tags).into_bytes(), 10).unwrap(), tags);
        let dup = b"<Tagging><TagSet><Tag><Key>k</Key><Value>1</Value></Tag>\
                    <Tag><Key>k</Key><Value>2</Value></Tag></TagSet></Tagging>";
        assert_eq!(from_xml(dup, 10).unwrap_err().code, "InvalidTag");
        let eleven: Tags = (0..11).map(|i| (i.to_string(), String::new())).collect();
        assert_eq!(
            check(&eleven, MAX_OBJECT_TAGS).unwrap_err().code,
            "BadRequest"
        );
        assert!(check(&eleven, MAX_BUCKET_TAGS).is_ok());
        assert_eq!(
            check(&vec![("aws:x".into(), "".into())], 10)
                .unwrap_err()
                .code,
            "InvalidTag"
        );
        assert_eq!(decode("a=1&b=two+words").unwrap()[1].1, "two words");
        assert!(from_xml(
            b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
            10
        )
        .is_err());
    }

    proptest! {
        #[test]
        fn any_tags_round_trip(tags in proptest::collection::btree_map("\\PC{1,20}", "\\PC{0,20}", 0..10)) {
            let tags: Tags = tags.into_iter().collect();
            prop_assert_eq!(decode(&encode(&tags)).unwrap(), tags.clone());
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,200}") {
            let _ = decode(&s);
            let _ = from_xml(s.as_bytes(), 10);
        }
    }
}
