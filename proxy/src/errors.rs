//! Error responses exactly as Swift's proxy sends them: the status, its
//! HTML body, and the headers every response carries. The one place they
//! are made.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use stratus_common::body::Body;

pub type Response = http::Response<Body>;

/// Swift's (webob's) body for each status it answers with an error.
fn body_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "<html><h1>Bad Request</h1><p>The server could not comply with the request since it is either malformed or otherwise incorrect.</p></html>",
        401 => "<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to access the document you requested.</p></html>",
        403 => "<html><h1>Forbidden</h1><p>Access was denied to this resource.</p></html>",
        404 => "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>",
        405 => "<html><h1>Method Not Allowed</h1><p>The method is not allowed for this resource.</p></html>",
        409 => "<html><h1>Conflict</h1><p>There was a conflict when trying to complete your request.</p></html>",
        411 => "<html><h1>Length Required</h1><p>Length Required</p></html>",
        412 => "<html><h1>Precondition Failed</h1><p>A precondition for this request was not met.</p></html>",
        413 => "<html><h1>Request Entity Too Large</h1><p>The body of your request was too large for this server.</p></html>",
        416 => "<html><h1>Requested Range Not Satisfiable</h1><p>The Range requested is not available.</p></html>",
        422 => "<html><h1>Unprocessable Entity</h1><p>Unable to process the contained instructions</p></html>",
        499 => "<html><h1>Client Disconnect</h1><p>The client was disconnected during request.</p></html>",
        503 => "<html><h1>Service Unavailable</h1><p>The server is currently unavailable. Please try again at a later time.</p></html>",
        507 => "<html><h1>Insufficient Storage</h1><p>There was not enough space to save the resource. Drive: </p></html>",
        _ => "<html><h1>Internal Error</h1><p>The server has either erred or is incapable of performing the requested operation.</p></html>",
    }
}

/// A Swift error response with its standard body.
pub fn error(status: StatusCode) -> Response {
    with_body(status, body_of(status))
}

/// A Swift error response with a specific plain explanation (Swift sends
/// these for constraint violations, e.g. "Object name length ... ").
pub fn explain(status: StatusCode, msg: &str) -> Response {
    let mut r = http::Response::new(Body::full(Bytes::from(msg.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    r
}

fn with_body(status: StatusCode, body: &'static str) -> Response {
    let mut r = http::Response::new(Body::full(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

pub fn empty(status: StatusCode) -> Response {
    let mut r = http::Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swift_bodies() {
        let r = error(StatusCode::NOT_FOUND);
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["content-type"], "text/html; charset=UTF-8");
        assert!(
            matches!(r.body(), Body::Full(Some(b)) if b.starts_with(b"<html><h1>Not Found</h1>"))
        );
    }
}
