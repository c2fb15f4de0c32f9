-- The refresh token the current one replaced, and when (Unix seconds): presented again
-- soon after, it means the answer that carried the new token was lost, not that the old
-- one was stolen (see `Auth::refresh`).
ALTER TABLE sessions ADD COLUMN previous_hash TEXT;
ALTER TABLE sessions ADD COLUMN rotated_at BIGINT NOT NULL DEFAULT 0;
