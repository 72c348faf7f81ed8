//! Writing command output to stdout without panicking when the reader has gone
//! (`siptrunk-operator plan -o json | head`): a closed pipe ends the output quietly.

use std::io::{self, Write};

/// How writing the output ended.
#[derive(Debug)]
pub enum Written {
    /// Everything was written.
    All,
    /// The reader closed the pipe; the rest was dropped (not an error for a command line tool).
    ReaderGone,
    /// Writing failed otherwise (disk full, closed descriptor...).
    Failed(io::Error),
}

/// Writes `text` to `w` and flushes it.
pub fn write_to(w: &mut impl Write, text: &str) -> Written {
    match w.write_all(text.as_bytes()).and_then(|()| w.flush()) {
        Ok(()) => Written::All,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Written::ReaderGone,
        Err(e) => Written::Failed(e),
    }
}

/// Writes `text` to stdout (see `write_to`).
pub fn stdout(text: &str) -> Written {
    write_to(&mut io::stdout().lock(), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `room` bytes, then answers like a pipe whose reader exited.
    struct ClosedAfter {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for ClosedAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_reader_that_goes_away_ends_the_output_quietly() {
        let mut w = ClosedAfter { room: 10, got: Vec::new() };
        let text = "{\n  \"trunks\": []\n}\n".repeat(100);
        assert!(matches!(write_to(&mut w, &text), Written::ReaderGone));
        assert_eq!(w.got, text.as_bytes()[..10].to_vec(), "what fitted was written");
    }

    #[test]
    fn other_errors_are_reported_and_success_is_all() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("no space left"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(matches!(write_to(&mut Full, "x"), Written::Failed(_)));
        let mut ok = ClosedAfter { room: 100, got: Vec::new() };
        assert!(matches!(write_to(&mut ok, "hello"), Written::All));
    }
}
