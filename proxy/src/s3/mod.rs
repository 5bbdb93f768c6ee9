//! The S3 API's wire formats, parsed at the edge before anything acts on
//! them. So far: the `aws-chunked` body encoding with chunk and trailer
//! signatures ([`chunked`]); the S3 front itself (addressing, SigV4 request
//! checks, operations, XML errors) is built on it next.

pub mod chunked;
