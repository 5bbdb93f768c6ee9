//! Every S3 error the front answers with, and the one place that renders
//! S3's XML error body (`<Error><Code>…`) with its HTTP status.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use stratus_common::body::Body;

/// An S3 error code with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct S3Error {
    pub code: &'static str,
    pub message: String,
}

impl S3Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            code,
            message: message.into(),
        }
    }

    pub fn access_denied() -> S3Error {
        S3Error::new("AccessDenied", "Access Denied")
    }

    pub fn access_denied_because(message: impl Into<String>) -> S3Error {
        S3Error::new("AccessDenied", message)
    }

    pub fn signature_mismatch() -> S3Error {
        S3Error::new(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             Check your key and signing method.",
        )
    }

    pub fn malformed_auth(message: impl Into<String>) -> S3Error {
        S3Error::new("AuthorizationHeaderMalformed", message)
    }

    pub fn query_auth(message: impl Into<String>) -> S3Error {
        S3Error::new("AuthorizationQueryParametersError", message)
    }

    pub fn status(&self) -> StatusCode {
        let code = match self.code {
            "AccessDenied"
            | "SignatureDoesNotMatch"
            | "RequestTimeTooSkewed"
            | "InvalidAccessKeyId"
            | "AccessForbidden" => 403,
            "NoSuchBucket"
            | "NoSuchKey"
            | "NoSuchVersion"
            | "NoSuchUpload"
            | "NoSuchTagSet"
            | "NoSuchCORSConfiguration" => 404,
            "MethodNotAllowed" => 405,
            "BucketAlreadyOwnedByYou" | "BucketAlreadyExists" | "BucketNotEmpty" => 409,
            "MissingContentLength" => 411,
            "PreconditionFailed" => 412,
            "InvalidRange" => 416,
            "NotImplemented" => 501,
            "ServiceUnavailable" | "SlowDown" => 503,
            "InternalError" => 500,
            _ => 400,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// The XML answer; `resource` is the request's path.
    pub fn into_response(self, request_id: &str, resource: &str) -> http::Response<Body> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>\
             <Resource>{}</Resource><RequestId>{}</RequestId></Error>",
            self.code,
            xml_escape(&self.message),
            xml_escape(resource),
            xml_escape(request_id)
        );
        let mut r = http::Response::new(Body::full(Bytes::from(body)));
        *r.status_mut() = self.status();
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/xml"));
        if let Ok(v) = HeaderValue::from_str(request_id) {
            r.headers_mut().insert("x-amz-request-id", v);
        }
        r
    }
}

pub use stratus_common::http::xml_escape;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_s3_error_xml() {
        let r = S3Error::new("NoSuchKey", "The specified key does not exist.")
            .into_response("tx1", "/b/<k>");
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["x-amz-request-id"], "tx1");
        let Body::Full(Some(b)) = r.into_body() else {
            panic!("not a full body")
        };
        let text = String::from_utf8(b.to_vec()).unwrap();
        assert!(text.contains("<Code>NoSuchKey</Code>"));
        assert!(text.contains("<Resource>/b/&lt;k&gt;</Resource>"));
    }

    #[test]
    fn statuses() {
        assert_eq!(S3Error::signature_mismatch().status(), 403);
        assert_eq!(S3Error::new("BucketNotEmpty", "").status(), 409);
        assert_eq!(S3Error::new("MalformedXML", "").status(), 400);
        assert_eq!(xml_escape("a&b\u{1}"), "a&amp;b&#x1;");
    }
}
