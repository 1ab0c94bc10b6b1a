-- A log line whose bytes are not text (invalid UTF-8, or a NUL byte, which a text
-- column refuses) keeps its exact bytes here; `line` then holds the same line with
-- U+FFFD for each byte that is not text, so every reader can show it. Null for the
-- common line that is text as it is.
alter table run_logs add column raw bytea;
