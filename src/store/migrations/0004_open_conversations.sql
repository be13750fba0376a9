-- Version 4: when a conversation was first listed while still going on (NULL: it had
-- ended, or was never listed). The details query lists a day once it is settled; a
-- conversation still open then would never be listed again, so its row remembers it: it is
-- not asked of STA while open, and each run asks the details query about it by id until it
-- has ended.
ALTER TABLE conversations ADD COLUMN open_since BIGINT;
