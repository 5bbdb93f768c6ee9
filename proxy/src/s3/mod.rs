//! The S3 API's wire formats, parsed at the edge before anything acts on
//! them. So far: SigV4 request signatures in the header or a presigned
//! query ([`auth`]), the `aws-chunked` body encoding with chunk and trailer
//! signatures ([`chunked`]), request bodies checked on their way to the
//! replicas ([`body`]) and S3's XML errors ([`errors`]); the S3 front itself
//! (addressing, operations) is built on them next.

pub mod auth;
pub mod body;
pub mod chunked;
pub mod errors;
