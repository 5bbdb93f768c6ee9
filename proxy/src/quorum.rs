//! Fan-out of a request to every replica and choosing the answer, as
//! Swift's proxy does: a majority (quorum) of replicas decides.

use http::{HeaderMap, StatusCode};
use stratus_common::body::Body;

use crate::backend::{Backend, Call, Placement, Sender};

/// Swift's quorum: a majority of the replicas.
pub fn quorum(replicas: usize) -> usize {
    replicas / 2 + 1
}

/// One replica's answer: status and headers, or no answer.
pub type Answer = Option<(StatusCode, HeaderMap)>;

/// Connections to every replica: the i-th primary, or the next handoff
/// when it is error-limited or cannot be reached. Replicas for which no
/// node answers are left out.
pub async fn connect_replicas(backend: &Backend, placement: &Placement) -> Vec<(usize, Sender)> {
    let mut handoffs = placement.handoffs.iter();
    let mut out = Vec::with_capacity(placement.primaries.len());
    for (i, primary) in placement.primaries.iter().enumerate() {
        for node in std::iter::once(primary).chain(&mut handoffs) {
            if backend.is_limited(node) {
                continue;
            }
            match backend.connect(node).await {
                Ok(c) => {
                    out.push((i, c));
                    break;
                }
                Err(e) => backend.record_error(node, &e),
            }
        }
    }
    out
}

/// Sends a body-less request to `replicas` nodes: the primaries, with a
/// handoff standing in for each one that cannot be reached. `headers_for(i)`
/// gives the headers for the i-th target (container update headers differ).
pub async fn fanout(
    backend: &Backend,
    placement: &Placement,
    method: http::Method,
    path: &str,
    query: Option<&str>,
    headers_for: impl Fn(usize) -> HeaderMap,
) -> Vec<Answer> {
    let n = placement.primaries.len();
    let mut tasks = Vec::with_capacity(n);
    for (i, conn) in connect_replicas(backend, placement).await {
        let headers = headers_for(i);
        let method = method.clone();
        tasks.push(async move {
            let node = conn.node.clone();
            match backend
                .send(
                    conn,
                    Call {
                        method,
                        partition: placement.partition,
                        path,
                        query,
                        headers: &headers,
                    },
                    Body::empty(),
                )
                .await
            {
                Ok(resp) => {
                    if resp.status().is_server_error() {
                        backend.record_error(&node, &resp.status());
                    }
                    Some((resp.status(), resp.headers().clone()))
                }
                Err(e) => {
                    backend.record_error(&node, &e);
                    None
                }
            }
        });
    }
    let mut answers: Vec<Answer> = futures_util::future::join_all(tasks).await;
    answers.resize(n, None);
    answers
}

/// The status a client gets for a set of replica answers: the first
/// status class (2xx, then 4xx, …) that a quorum agrees on, else 503.
pub fn best_status(answers: &[Answer], replicas: usize) -> StatusCode {
    let q = quorum(replicas);
    for class in [2u16, 4, 3, 5] {
        let in_class: Vec<StatusCode> = answers
            .iter()
            .flatten()
            .map(|(s, _)| *s)
            .filter(|s| s.as_u16() / 100 == class)
            .collect();
        if in_class.len() >= q {
            // The most common status of that class.
            let mut best = in_class[0];
            let mut count = 0;
            for s in &in_class {
                let c = in_class.iter().filter(|x| *x == s).count();
                if c > count {
                    best = *s;
                    count = c;
                }
            }
            return best;
        }
    }
    StatusCode::SERVICE_UNAVAILABLE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: u16) -> Answer {
        Some((StatusCode::from_u16(s).unwrap(), HeaderMap::new()))
    }

    #[test]
    fn quorum_decides() {
        assert_eq!(quorum(3), 2);
        assert_eq!(quorum(2), 2);
        assert_eq!(quorum(1), 1);
        assert_eq!(best_status(&[a(201), a(201), None], 3), StatusCode::CREATED);
        assert_eq!(
            best_status(&[a(201), None, None], 3),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            best_status(&[a(404), a(404), a(204)], 3),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            best_status(&[a(201), a(202), a(202)], 3),
            StatusCode::ACCEPTED
        );
        assert_eq!(
            best_status(&[a(409), a(204), a(204)], 3),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            best_status(&[a(507), a(507), a(201)], 3),
            StatusCode::INSUFFICIENT_STORAGE
        );
    }
}
