//! The shared application-side layer: handlers, streamed reads and closing, over a `Pair`.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wsio_core::testing::{Pair, transfer};
use wsio_core::{
    CloseCode, CloseFrame, Config, Error, Message, MessageKind, Progress, Session, State,
};

fn sessions(config: Config) -> (Session, Session) {
    let p = Pair::new(config);
    (Session::new(p.client), Session::new(p.server))
}

fn deliver(from: &mut Session, to: &mut Session) {
    transfer(from.connection(), to.connection(), usize::MAX);
}

#[test]
fn default_handlers_answer_pings_and_echo_close() {
    let (mut c, mut s) = sessions(Config::default());
    c.connection().ping(b"are you there").unwrap();
    c.connection().send(Message::text("hi")).unwrap();
    deliver(&mut c, &mut s);
    assert_eq!(
        s.poll_message(),
        Ok(Progress::Done(Some(Message::text("hi"))))
    );
    deliver(&mut s, &mut c);
    // The pong is consumed by the default (ignoring) pong handler.
    assert_eq!(c.poll_message(), Ok(Progress::NeedInput));
    c.connection().close(CloseCode::NORMAL, "bye").unwrap();
    deliver(&mut c, &mut s);
    assert_eq!(s.poll_message(), Ok(Progress::Done(None)));
    assert_eq!(
        s.peer_close(),
        Some(Some(&CloseFrame::new(CloseCode::NORMAL, "bye")))
    );
    deliver(&mut s, &mut c);
    assert_eq!(c.poll_close(), Ok(Progress::Done(())));
    assert_eq!(c.connection().state(), State::Closed);
    // Reading again after the close keeps reporting the end.
    assert_eq!(s.poll_message(), Ok(Progress::Done(None)));
}

#[test]
fn custom_handlers_replace_the_defaults() {
    let (mut c, mut s) = sessions(Config::default());
    let pongs = Arc::new(Mutex::new(Vec::new()));
    let seen = pongs.clone();
    s.set_ping_handler(Some(Box::new(|p: &Bytes| {
        Some(Bytes::from([b"re: ", &p[..]].concat()))
    })));
    c.set_pong_handler(Some(Box::new(move |p: &Bytes| {
        seen.lock().unwrap().push(p.clone())
    })));
    s.set_close_handler(Some(Box::new(|_: Option<&CloseFrame>| {
        CloseFrame::new(CloseCode(4001), "custom")
    })));
    c.connection().ping(b"x").unwrap();
    deliver(&mut c, &mut s);
    assert_eq!(s.poll_message(), Ok(Progress::NeedInput));
    deliver(&mut s, &mut c);
    assert_eq!(c.poll_message(), Ok(Progress::NeedInput));
    assert_eq!(*pongs.lock().unwrap(), [Bytes::from_static(b"re: x")]);
    c.connection().close(CloseCode::NORMAL, "").unwrap();
    deliver(&mut c, &mut s);
    assert_eq!(s.poll_message(), Ok(Progress::Done(None)));
    deliver(&mut s, &mut c);
    assert_eq!(c.poll_close(), Ok(Progress::Done(())));
    assert_eq!(
        c.peer_close(),
        Some(Some(&CloseFrame::new(CloseCode(4001), "custom")))
    );
}

#[test]
fn a_streamed_message_abandoned_halfway_is_skipped() {
    let (mut c, mut s) = sessions(Config {
        fragment_size: 10,
        ..Config::default()
    });
    c.connection().begin_message(MessageKind::Binary).unwrap();
    c.connection().write_chunk(&[1; 35]).unwrap();
    c.connection().end_message().unwrap();
    c.connection().send(Message::text("next")).unwrap();
    deliver(&mut c, &mut s);
    assert_eq!(
        s.poll_message_start(),
        Ok(Progress::Done(Some(MessageKind::Binary)))
    );
    assert_eq!(
        s.poll_message_data(),
        Ok(Progress::Done(Some(Bytes::from_static(&[1; 10]))))
    );
    // The reader is dropped here; the next whole read skips the rest.
    assert_eq!(
        s.poll_message(),
        Ok(Progress::Done(Some(Message::text("next"))))
    );
}

#[test]
fn a_message_begun_in_whole_mode_is_replayed_as_a_stream() {
    let (mut c, mut s) = sessions(Config::default());
    c.connection().send(Message::binary(vec![9; 100])).unwrap();
    let wire = wsio_core::testing::take_output(c.connection());
    s.connection().receive(&wire[..50]);
    assert_eq!(
        s.poll_message(),
        Ok(Progress::NeedInput),
        "header read in whole mode"
    );
    s.connection().receive(&wire[50..]);
    assert_eq!(
        s.poll_message_start(),
        Ok(Progress::Done(Some(MessageKind::Binary)))
    );
    assert_eq!(
        s.poll_message_data(),
        Ok(Progress::Done(Some(Bytes::from(vec![9; 100]))))
    );
    assert_eq!(s.poll_message_data(), Ok(Progress::Done(None)));
    assert_eq!(s.poll_message(), Ok(Progress::NeedInput));
}

#[test]
fn a_close_in_the_middle_of_a_streamed_message_is_an_error() {
    let (mut c, mut s) = sessions(Config {
        fragment_size: 4,
        ..Config::default()
    });
    c.connection().begin_message(MessageKind::Text).unwrap();
    c.connection().write_chunk(b"partial text").unwrap();
    c.connection().close(CloseCode::GOING_AWAY, "").unwrap();
    deliver(&mut c, &mut s);
    assert_eq!(
        s.poll_message_start(),
        Ok(Progress::Done(Some(MessageKind::Text)))
    );
    let mut got = Vec::new();
    let end = loop {
        match s.poll_message_data() {
            Ok(Progress::Done(Some(d))) => got.extend_from_slice(&d),
            other => break other,
        }
    };
    assert_eq!(end, Err(Error::Closed));
    // The writer holds the last full fragment back until it knows whether it is the final
    // one; the close abandoned the message, so "text" never left.
    assert_eq!(got, b"partial ");
}
