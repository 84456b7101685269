//! The vpcd client against a fake vpcd: malformed frames and dropped
//! connections end the session and the card reconnects; it never panics or hangs.

use card_sim::vpcd::{Control, EchoCard, serve};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

fn read_frame(s: &mut std::net::TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut p = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut p).unwrap();
    p
}

#[test]
fn malformed_frames_and_drops_lead_to_a_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let control = Control::default();
    let c = control.clone();
    let server = std::thread::spawn(move || serve(&mut EchoCard, &addr, &c));
    let accept = || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    };

    // 1. A zero-length frame: protocol error, the card drops the connection.
    let mut s = accept();
    s.write_all(&[0, 0]).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "the card closed the session");

    // 2. A connection dropped in the middle of an APDU.
    let mut s = accept();
    s.write_all(&[0x00, 0x05, 0x00, 0xA4]).unwrap();
    drop(s);

    // 3. An unknown control code.
    let mut s = accept();
    s.write_all(&frame(&[0x7F])).unwrap();
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0);

    // 4. After all that, a well-behaved session works: ATR, then an APDU.
    let mut s = accept();
    s.write_all(&frame(&[0x04])).unwrap();
    assert_eq!(read_frame(&mut s), card_sim::sim::atr());
    s.write_all(&frame(&[0x00, 0xCA, 0xDF, 0x21, 0x04])).unwrap();
    assert_eq!(read_frame(&mut s), vec![0, 0, 0, 0, 0x90, 0x00]);
    assert!(control.sessions() >= 4);

    control.stop();
    drop(s);
    assert!(server.join().unwrap().is_ok());
}
