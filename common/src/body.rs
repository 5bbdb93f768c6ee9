//! Response bodies: nothing, one buffer, or a stream fed by a task so that
//! an object never has to be in memory whole.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::sync::mpsc;

#[derive(Debug)]
pub enum Body {
    Empty,
    Full(Option<Bytes>),
    /// Chunks from a producer task; an `Err` aborts the response mid-way
    /// (the client sees a short body, as Swift's clients expect on a bad read).
    Stream(mpsc::Receiver<Result<Bytes, std::io::Error>>),
}

impl Body {
    pub fn empty() -> Body {
        Body::Empty
    }

    pub fn full(b: Bytes) -> Body {
        Body::Full(Some(b))
    }

    /// A streaming body and the sender that feeds it (bounded: the
    /// producer waits while the client is slow).
    pub fn channel() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, Body) {
        let (tx, rx) = mpsc::channel(2);
        (tx, Body::Stream(rx))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}
