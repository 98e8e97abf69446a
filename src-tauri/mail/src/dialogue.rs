//! A line-based conversation with a mail server (SMTP, POP3, IMAP): reads lines with a time limit and a length
//! limit, writes commands, and keeps a transcript with credentials removed.
//!
//! Generic over the stream so protocol code is unit-tested over an in-memory pipe.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// The longest line accepted from a server; longer ones are a protocol error, not an allocation.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// What Mailproof sent.
    Client,
    /// What the server answered.
    Server,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    pub direction: Direction,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DialogueError {
    #[error("the server closed the connection")]
    Closed,
    #[error("no answer from the server within {0} s")]
    TimedOut(u64),
    #[error("the server sent a line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
}

pub struct Dialogue<S> {
    reader: BufReader<S>,
    timeout: Duration,
    transcript: Vec<TranscriptLine>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Dialogue<S> {
    pub fn new(stream: S, timeout: Duration) -> Self {
        Dialogue { reader: BufReader::new(stream), timeout, transcript: Vec::new() }
    }

    pub fn transcript(&self) -> &[TranscriptLine] {
        &self.transcript
    }

    pub fn take_transcript(&mut self) -> Vec<TranscriptLine> {
        std::mem::take(&mut self.transcript)
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Bytes the server sent that have not been read yet. After STARTTLS there must be none: anything there
    /// was sent in clear text before the handshake and could have been injected.
    pub fn has_buffered(&self) -> bool {
        !self.reader.buffer().is_empty()
    }

    /// The stream, for a TLS upgrade. Call only when `has_buffered()` is false.
    pub fn into_inner(self) -> (S, Vec<TranscriptLine>) {
        (self.reader.into_inner(), self.transcript)
    }

    /// Continues on another stream (after STARTTLS), keeping the transcript.
    pub fn resume(stream: S, timeout: Duration, transcript: Vec<TranscriptLine>) -> Self {
        Dialogue { reader: BufReader::new(stream), timeout, transcript }
    }

    /// One line as raw bytes, without its CRLF.
    pub async fn read_raw_line(&mut self) -> Result<Vec<u8>, DialogueError> {
        let mut line = Vec::new();
        let read = async {
            loop {
                let buf = self.reader.fill_buf().await?;
                if buf.is_empty() {
                    return Err(DialogueError::Closed);
                }
                let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => (&buf[..=i], true),
                    None => (buf, false),
                };
                if line.len() + chunk.len() > MAX_LINE {
                    return Err(DialogueError::LineTooLong);
                }
                line.extend_from_slice(chunk);
                let n = chunk.len();
                self.reader.consume(n);
                if done {
                    return Ok(());
                }
            }
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(())) => {}
            Ok(Err(DialogueError::Closed)) if !line.is_empty() => {}
            // The connection's own patience ran out first: the same silence.
            Ok(Err(DialogueError::Io(e))) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(DialogueError::TimedOut(self.timeout.as_secs().max(1)))
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(DialogueError::TimedOut(self.timeout.as_secs().max(1))),
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        Ok(line)
    }

    /// One line as text (invalid UTF-8 replaced), recorded in the transcript.
    pub async fn read_line(&mut self) -> Result<String, DialogueError> {
        let raw = self.read_raw_line().await?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        self.transcript.push(TranscriptLine { direction: Direction::Server, text: text.clone() });
        Ok(text)
    }

    /// Sends `line` followed by CRLF and records it.
    pub async fn send(&mut self, line: &str) -> Result<(), DialogueError> {
        self.send_shown(line, line).await
    }

    /// Sends `line` but records `shown` instead: for commands that carry credentials.
    pub async fn send_shown(&mut self, line: &str, shown: &str) -> Result<(), DialogueError> {
        self.transcript.push(TranscriptLine { direction: Direction::Client, text: shown.to_owned() });
        // One write per command: a command split over two segments waits on the server's delayed ACK.
        let mut wire = Vec::with_capacity(line.len() + 2);
        wire.extend_from_slice(line.as_bytes());
        wire.extend_from_slice(b"\r\n");
        self.write_all(&wire).await
    }

    /// Writes `wire` in one go and flushes it, within the time limit.
    async fn write_all(&mut self, wire: &[u8]) -> Result<(), DialogueError> {
        let write = async {
            let stream = self.reader.get_mut();
            stream.write_all(wire).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
                Err(DialogueError::TimedOut(self.timeout.as_secs().max(1)))
            }
            Ok(r) => Ok(r?),
            Err(_) => Err(DialogueError::TimedOut(self.timeout.as_secs().max(1))),
        }
    }

    /// Sends a message body for SMTP DATA: dot-stuffed, lines ended with CRLF, then the lone dot. The transcript
    /// records its size, not its content.
    pub async fn send_data(&mut self, body: &[u8]) -> Result<(), DialogueError> {
        self.transcript
            .push(TranscriptLine { direction: Direction::Client, text: format!("<message, {} bytes>", body.len()) });
        let mut wire = Vec::with_capacity(body.len() + body.len() / 40 + 8);
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.first() == Some(&b'.') {
                wire.push(b'.');
            }
            wire.extend_from_slice(line);
            wire.extend_from_slice(b"\r\n");
        }
        if body.ends_with(b"\n") {
            // split() yields an empty last piece after a final newline; it is not a line of the message.
            wire.truncate(wire.len() - 2);
        }
        wire.extend_from_slice(b".\r\n");
        self.write_all(&wire).await
    }

    /// Reads a dot-terminated multi-line body (POP3), undoing dot-stuffing. Lines are joined with CRLF.
    pub async fn read_dot_body(&mut self, max_bytes: usize) -> Result<Vec<u8>, DialogueError> {
        self.read_dot_body_capped(max_bytes, max_bytes).await
    }

    /// Like [`Dialogue::read_dot_body`], keeping the first `keep` bytes and reading the rest without keeping it,
    /// up to `limit` bytes in all.
    pub async fn read_dot_body_capped(&mut self, keep: usize, limit: usize) -> Result<Vec<u8>, DialogueError> {
        let mut body = Vec::new();
        let mut read = 0usize;
        loop {
            let line = self.read_raw_line().await?;
            if line == b"." {
                return Ok(body);
            }
            let line = line.strip_prefix(b".").filter(|rest| rest.starts_with(b".")).unwrap_or(&line);
            read += line.len() + 2;
            if read > limit {
                return Err(DialogueError::LineTooLong);
            }
            if body.len() < keep {
                let room = keep - body.len();
                body.extend_from_slice(&line[..line.len().min(room)]);
                body.extend_from_slice(&b"\r\n"[..2.min(keep - body.len())]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn lines_are_read_without_crlf_and_written_with_it() {
        let (client, mut server) = tokio::io::duplex(1024);
        let mut d = Dialogue::new(client, Duration::from_secs(1));
        server.write_all(b"+OK hello\r\nsecond\n").await.unwrap();
        assert_eq!(d.read_line().await.unwrap(), "+OK hello");
        assert_eq!(d.read_line().await.unwrap(), "second");
        d.send_shown("PASS secret", "PASS <redacted>").await.unwrap();
        let mut buf = [0u8; 13];
        tokio::io::AsyncReadExt::read_exact(&mut server, &mut buf).await.unwrap();
        assert_eq!(&buf, b"PASS secret\r\n");
        let shown: Vec<_> = d.transcript().iter().map(|l| l.text.as_str()).collect();
        assert_eq!(shown, ["+OK hello", "second", "PASS <redacted>"]);
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_a_closed_one_says_so() {
        let (client, server) = tokio::io::duplex(64);
        let mut d = Dialogue::new(client, Duration::from_millis(50));
        assert!(matches!(d.read_line().await, Err(DialogueError::TimedOut(1))));
        drop(server);
        assert!(matches!(d.read_line().await, Err(DialogueError::Closed)));
    }

    #[tokio::test]
    async fn an_endless_line_is_refused() {
        let (client, mut server) = tokio::io::duplex(MAX_LINE * 2);
        let mut d = Dialogue::new(client, Duration::from_secs(1));
        tokio::spawn(async move {
            let _ = server.write_all(&vec![b'x'; MAX_LINE + 10]).await;
            std::future::pending::<()>().await;
        });
        assert!(matches!(d.read_line().await, Err(DialogueError::LineTooLong)));
    }

    #[tokio::test]
    async fn data_is_dot_stuffed_and_ends_with_a_lone_dot() {
        let (client, mut server) = tokio::io::duplex(1024);
        let mut d = Dialogue::new(client, Duration::from_secs(1));
        d.send_data(b"a\r\n.b\nc\r\n").await.unwrap();
        drop(d);
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut server, &mut got).await.unwrap();
        assert_eq!(got, b"a\r\n..b\r\nc\r\n.\r\n");
    }

    #[tokio::test]
    async fn dot_bodies_are_unstuffed() {
        let (client, mut server) = tokio::io::duplex(1024);
        let mut d = Dialogue::new(client, Duration::from_secs(1));
        server.write_all(b"Subject: x\r\n\r\n..leading dot\r\n.\r\n").await.unwrap();
        assert_eq!(d.read_dot_body(1 << 20).await.unwrap(), b"Subject: x\r\n\r\n.leading dot\r\n");
    }

    #[tokio::test]
    async fn a_capped_body_keeps_its_start_reads_the_rest_and_stays_in_step() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut d = Dialogue::new(client, Duration::from_secs(1));
        server.write_all(b"Subject: big\r\n\r\n0123456789\r\n0123456789\r\n.\r\n+OK next\r\n").await.unwrap();
        assert_eq!(d.read_dot_body_capped(20, 1 << 20).await.unwrap(), b"Subject: big\r\n\r\n0123");
        assert_eq!(d.read_line().await.unwrap(), "+OK next", "the rest of the message was read, not left behind");
        server.write_all(b"0123456789\r\n0123456789\r\n.\r\n").await.unwrap();
        assert!(matches!(d.read_dot_body_capped(5, 16).await, Err(DialogueError::LineTooLong)), "over the limit");
    }
}
