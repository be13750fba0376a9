-- Version 4: conversations listed while still going on. The details query lists a day once
-- it is settled; a conversation still open then would never be listed again, so its row
-- remembers it: `open_since` (NULL: it had ended, or was never listed) keeps it from STA,
-- and each run asks the details query about it by id until it has ended. `closed_at` is
-- when a listing first found such a conversation ended: STA's re-ask horizon counts from
-- then, not from its start (NULL: from its start).
ALTER TABLE conversations ADD COLUMN open_since BIGINT;
ALTER TABLE conversations ADD COLUMN closed_at BIGINT;
