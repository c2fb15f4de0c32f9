-- The ids of deleted boards, never given to a board again: a log position names one
-- board's log, and a board made anew under a deleted one's id would start its log again
-- below positions that clients still hold, which would then replay its events as if
-- they followed the old board's.
CREATE TABLE retired_boards (id TEXT PRIMARY KEY NOT NULL);
