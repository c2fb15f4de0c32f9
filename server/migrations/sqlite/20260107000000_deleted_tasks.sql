-- The ids of deleted tasks, per board. Creates are idempotent on a task's id: a client
-- that never heard whether its create went through sends it again, and without this a
-- create resent after someone deleted the task would make it anew. The board's own
-- deletion takes its ids along: a deleted board's id is never used again.
CREATE TABLE deleted_tasks (
    board_id TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id       TEXT NOT NULL,
    PRIMARY KEY (board_id, id)
) WITHOUT ROWID;
