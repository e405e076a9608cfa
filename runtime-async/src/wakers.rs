//! One waker for every stream poll, waking each task that waits on the connection.
//!
//! A tokio stream remembers one waker per direction: the last one polled with. When the two
//! halves of a split connection both write (the reader flushing an automatic pong, the writer
//! its messages), whichever polled last would be woken and the other would wait forever: the
//! lost-wakeup bug of several WebSocket crates. Polling the stream only through this hub, and
//! having the hub wake both the reading and the writing task, makes a lost wakeup impossible;
//! the price is an occasional spurious wake, after which a task simply polls again.

use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

/// Which side of the connection a task is waiting on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Side {
    Reader,
    Writer,
}

#[derive(Default)]
pub(crate) struct WakerHub {
    reader: Mutex<Option<Waker>>,
    writer: Mutex<Option<Waker>>,
}

impl WakerHub {
    /// A hub and the waker to poll the stream with.
    pub(crate) fn new() -> (Arc<WakerHub>, Waker) {
        let hub = Arc::new(WakerHub::default());
        let waker = Waker::from(hub.clone());
        (hub, waker)
    }

    /// Records that the task behind `waker` waits on `side`.
    pub(crate) fn register(&self, side: Side, waker: &Waker) {
        let slot = match side {
            Side::Reader => &self.reader,
            Side::Writer => &self.writer,
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl Wake for WakerHub {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        for slot in [&self.reader, &self.writer] {
            // Taken, not cloned: a woken task registers again when it polls.
            let waker = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}
