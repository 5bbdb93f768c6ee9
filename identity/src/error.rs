//! Every identity error and the one place that turns it into Keystone's
//! JSON error body: `{"error": {"code", "title", "message"}}`.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use stratus_common::body::Body;
use stratus_common::kv::KvError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    /// Never says which part of the credentials was wrong.
    #[error("The request you have made requires authentication.")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("Could not find {kind}: {id}.")]
    NotFound { kind: &'static str, id: String },
    #[error("Conflict occurred attempting to store {kind} - {detail}.")]
    Conflict { kind: &'static str, detail: String },
    #[error("Request is too large.")]
    TooLarge,
    #[error("The requested method is not allowed.")]
    MethodNotAllowed,
    #[error("An unexpected error prevented the server from fulfilling your request.")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<KvError> for Error {
    fn from(e: KvError) -> Error {
        Error::Internal(e.to_string())
    }
}

impl Error {
    pub fn not_found(kind: &'static str, id: &str) -> Error {
        Error::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    pub fn bad(msg: impl Into<String>) -> Error {
        Error::BadRequest(msg.into())
    }

    pub fn forbidden() -> Error {
        Error::Forbidden("You are not authorized to perform the requested action.".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "Bad Request",
            Error::Unauthorized => "Unauthorized",
            Error::Forbidden(_) => "Forbidden",
            Error::NotFound { .. } => "Not Found",
            Error::Conflict { .. } => "Conflict",
            Error::TooLarge => "Request Entity Too Large",
            Error::MethodNotAllowed => "Method Not Allowed",
            Error::Internal(_) => "Internal Server Error",
        }
    }

    pub fn into_response(self) -> http::Response<Body> {
        if let Error::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let status = self.status();
        let body = serde_json::json!({"error": {
            "code": status.as_u16(),
            "title": self.title(),
            "message": self.to_string(),
        }});
        let mut r = http::Response::new(Body::full(Bytes::from(body.to_string())));
        *r.status_mut() = status;
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Keystone uri=\"/v3\""),
            );
        }
        r
    }
}
