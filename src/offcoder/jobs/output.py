"""A job's output as stored log chunks: numbered, decoded across reads, and capped (C6).

The worker reads the sandbox's raw stdout and stderr from the engine's attach stream (never the
engine's log file: it holds back a line's last partial piece until a newline or the end, and a
follower can stop before that piece is written). This module turns those reads into the chunks
the API serves, with three guarantees `docs/api.md` states:

- every byte up to the cap is stored, in order, per stream;
- text is decoded with one incremental UTF-8 decoder per stream, so a character split across
  two reads is stored whole; bytes that are not UTF-8 become U+FFFD; NUL, which PostgreSQL
  refuses in text, is shown as U+2400 (SYMBOL FOR NULL);
- the cap counts the stored text's UTF-8 size (what the database holds); past it the log ends
  with one chunk on stderr that starts with `LOG_CUT_MARKER`.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

NUL_SHOWN_AS = "\u2400"
LOG_CUT_MARKER = "[offcoder] output cut here"
# One stored chunk holds at most this much of the job's bytes (a few more for a character
# completed across reads): fewer, larger rows for a fast program, each a reasonable packet for
# a live subscriber.
CHUNK_MAX_BYTES = 64 * 1024
STREAMS = ("stdout", "stderr")


@dataclass(frozen=True)
class LogChunk:
    seq: int
    stream: str
    data: str


class StreamText:
    """One stream's bytes as text, decoded across reads."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes, *, final: bool = False) -> str:
        return self._decoder.decode(data, final).replace("\x00", NUL_SHOWN_AS)


@dataclass
class OutputLog:
    """Numbers a job's output into chunks and stops taking it at the cap."""

    cap: int
    seq: int = 0
    stored_bytes: int = 0
    cut: bool = False
    _text: dict[str, StreamText] = field(
        default_factory=lambda: {name: StreamText() for name in STREAMS}
    )
    _ends_with_newline: bool = True

    def add(self, stream: str, data: bytes) -> list[LogChunk]:
        """The chunks for `data` read from `stream`; past the cap, the cut marker and then none."""
        chunks: list[LogChunk] = []
        if self.cut:
            return chunks
        for start in range(0, len(data), CHUNK_MAX_BYTES):
            text = self._text[stream].feed(data[start : start + CHUNK_MAX_BYTES])
            if not self._take(stream, text, chunks):
                break
        return chunks

    def note(self, stream: str, text: str) -> LogChunk:
        """A line of ours in the job's log, numbered in turn and not counted against the cap."""
        self.seq += 1
        return LogChunk(self.seq, stream, text)

    def finish(self) -> list[LogChunk]:
        """The last characters each decoder still holds (an incomplete one becomes U+FFFD)."""
        chunks: list[LogChunk] = []
        for stream in STREAMS:
            if self.cut:
                break
            self._take(stream, self._text[stream].feed(b"", final=True), chunks)
        return chunks

    def _take(self, stream: str, text: str, chunks: list[LogChunk]) -> bool:
        if not text:
            return True
        encoded = text.encode()
        room = self.cap - self.stored_bytes
        if len(encoded) <= room:
            self._append(stream, text, chunks)
            return True
        # Past the cap: keep what fits (whole characters only), then say where it was cut.
        kept = encoded[:room].decode("utf-8", errors="ignore")
        if kept:
            self._append(stream, kept, chunks)
        self._cut_here(chunks)
        return False

    def _append(self, stream: str, text: str, chunks: list[LogChunk]) -> None:
        self.seq += 1
        self.stored_bytes += len(text.encode())
        self._ends_with_newline = text.endswith("\n")
        chunks.append(LogChunk(self.seq, stream, text))

    def _cut_here(self, chunks: list[LogChunk]) -> None:
        self.cut = True
        self.seq += 1
        lead = "" if self._ends_with_newline else "\n"
        chunks.append(
            LogChunk(
                self.seq,
                "stderr",
                f"{lead}{LOG_CUT_MARKER}: the job's output reached its limit of {self.cap} "
                "bytes and the job was stopped\n",
            )
        )
