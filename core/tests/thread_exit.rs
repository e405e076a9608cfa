//! Connections used while their thread exits.
//!
//! The engine keeps per-thread state: pools of buffers and zlib states, and the buffer of
//! operating-system randomness that client mask keys come from. A connection can outlive it: one
//! kept in an application's own thread-local and used from its destructor (to send a last
//! message, say) runs after the engine's thread-locals are destroyed when those were first used
//! later, since a thread destroys its thread-locals in the reverse order of their first use.
//! The engine must then do without them, not panic (which, in a thread-local destructor,
//! aborts the process).

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, Ordering};

use bytes::{Buf, BytesMut};
use wsio_core::{Config, Connection, DeflateParams, Event, Message, Role};

const NOT_RUN: u8 = 0;
const PASSED: u8 = 1;
const PANICKED: u8 = 2;

static OUTCOME: AtomicU8 = AtomicU8::new(NOT_RUN);

fn deflate() -> Option<DeflateParams> {
    Some(DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    })
}

fn pair() -> (Connection, Connection) {
    (
        Connection::with_deflate(Role::Client, Config::default(), deflate()),
        Connection::with_deflate(Role::Server, Config::default(), deflate()),
    )
}

/// Everything that touches the engine's per-thread state: a compressed message from a client
/// (a compressor from the pool, a mask key) read by a server the way runtimes read (a pooled
/// read buffer, a decompressor from the pool), then every buffer given back.
fn exchange(client: &mut Connection, server: &mut Connection) {
    let text = "a message compressed, masked, read and released ".repeat(20);
    client.send(Message::text(text.clone())).unwrap();
    let mut wire = BytesMut::new();
    while let Some(out) = client.poll_transmit() {
        let n = out.chunk().len();
        wire.extend_from_slice(out.chunk());
        out.advance(n);
    }
    client.release_idle_buffers();
    let mut received = Vec::new();
    while !wire.is_empty() {
        let n = server.prepare_read(4096).min(wire.len());
        server.read_buf().extend_from_slice(&wire.split_to(n));
        while let Some(event) = server.poll_event().unwrap() {
            if let Event::Message(m) = event {
                received.push(m);
            }
        }
    }
    assert!(server.release_read_buf());
    server.release_idle_buffers();
    assert_eq!(received, vec![Message::text(text)]);
}

struct UsedOnExit(Option<(Connection, Connection)>);

impl Drop for UsedOnExit {
    fn drop(&mut self) {
        let Some((mut client, mut server)) = self.0.take() else {
            return;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| exchange(&mut client, &mut server)));
        let outcome = if outcome.is_ok() { PASSED } else { PANICKED };
        OUTCOME.store(outcome, Ordering::SeqCst);
    }
}

thread_local! {
    static USED_ON_EXIT: RefCell<UsedOnExit> = const { RefCell::new(UsedOnExit(None)) };
}

#[test]
fn a_connection_used_from_a_thread_local_destructor_works_without_the_engines_thread_locals() {
    std::thread::spawn(|| {
        // First use of this thread-local: its destructor is registered before the engine's...
        USED_ON_EXIT.with_borrow_mut(|used| used.0 = Some(pair()));
        // ...which are first used here, so they are destroyed first when the thread ends.
        let (mut client, mut server) = pair();
        exchange(&mut client, &mut server);
    })
    .join()
    .expect("the thread ends");
    assert_eq!(
        OUTCOME.load(Ordering::SeqCst),
        PASSED,
        "the exchange in the destructor (0: did not run, 2: panicked)"
    );
}
