-- Shared boards (protocol v2, section 4). Tasks and their change log move from users to
-- boards. Every user gets a personal board, `My tasks`, whose id is the user's own id:
-- the v1 calls act on it, and what each user had becomes exactly their personal board,
-- change-log position included, so clients resume without a snapshot.

CREATE TABLE boards (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    personal   INTEGER NOT NULL DEFAULT 0,
    -- The last `seq` handed out in this board's change log.
    log_seq    INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

-- Who may read a board, and what else they may do. Exactly one owner per board.
CREATE TABLE board_members (
    board_id TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    PRIMARY KEY (board_id, user_id)
) WITHOUT ROWID;
CREATE INDEX board_members_by_user ON board_members (user_id);
CREATE UNIQUE INDEX one_owner_per_board ON board_members (board_id) WHERE role = 'owner';

INSERT INTO boards (id, name, personal, log_seq, created_at)
    SELECT id, 'My tasks', 1, log_seq, created_at FROM users;
INSERT INTO board_members (board_id, user_id, role)
    SELECT id, id, 'owner' FROM users;

-- A new user gets their personal board in the same statement, and so the same
-- transaction, as the account.
CREATE TRIGGER users_personal_board AFTER INSERT ON users
BEGIN
    INSERT INTO boards (id, name, personal, created_at)
        VALUES (NEW.id, 'My tasks', 1, NEW.created_at);
    INSERT INTO board_members (board_id, user_id, role) VALUES (NEW.id, NEW.id, 'owner');
END;

-- Ids are chosen by clients, so they are unique per board only.
CREATE TABLE board_tasks (
    board_id   TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    title      TEXT NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0,
    version    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (board_id, id)
);
-- `rowid` order is creation order, which the snapshot keeps.
INSERT INTO board_tasks (board_id, id, title, done, version, created_at, updated_at, updated_by)
    SELECT user_id, id, title, done, version, created_at, updated_at, updated_by
    FROM tasks ORDER BY rowid;
DROP TABLE tasks;
ALTER TABLE board_tasks RENAME TO tasks;

-- The change log: the last N changes of each board.
CREATE TABLE board_events (
    board_id TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    change   TEXT NOT NULL,
    PRIMARY KEY (board_id, seq)
) WITHOUT ROWID;
INSERT INTO board_events (board_id, seq, change) SELECT user_id, seq, change FROM events;
DROP TABLE events;
ALTER TABLE board_events RENAME TO events;

-- Appending an event takes the board's next `seq` (`log_seq + 1`); this records it as
-- the board's last in the same statement.
CREATE TRIGGER events_bump_log_seq AFTER INSERT ON events
BEGIN
    UPDATE boards SET log_seq = NEW.seq WHERE id = NEW.board_id;
END;

ALTER TABLE users DROP COLUMN log_seq;
-- The last `seq` of each user's board list (the `boards` topic): bumped whenever a board
-- of theirs is made, renamed, shared with them, changes their role, or goes.
ALTER TABLE users ADD COLUMN boards_seq INTEGER NOT NULL DEFAULT 0;
