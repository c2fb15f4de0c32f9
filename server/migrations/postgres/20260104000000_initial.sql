-- Taskwire on PostgreSQL: the schema SQLite reaches through its migrations, in one step,
-- with the same tables, columns and meanings (see migrations/sqlite), plus what several
-- nodes share (`nodes`, `presence`). Ids are TEXT as on SQLite, so every statement reads
-- the same on both; usernames sort bytewise (COLLATE "C"), as SQLite sorts them.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    TEXT NOT NULL,
    -- The last `seq` of the user's board list (the `boards` topic).
    boards_seq    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    acting_admin_id   TEXT REFERENCES users (id) ON DELETE CASCADE,
    parent_session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    refresh_hash      TEXT NOT NULL UNIQUE,
    expires_at        BIGINT NOT NULL,
    created_at        TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_admin ON sessions (acting_admin_id);

CREATE TABLE spent_refresh_tokens (
    hash       TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX spent_by_session ON spent_refresh_tokens (session_id);

CREATE TABLE boards (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    personal   BOOLEAN NOT NULL DEFAULT FALSE,
    -- The last `seq` handed out in this board's change log; its row lock orders writes.
    log_seq    BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE board_members (
    board_id TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    PRIMARY KEY (board_id, user_id)
);
CREATE INDEX board_members_by_user ON board_members (user_id);
CREATE UNIQUE INDEX one_owner_per_board ON board_members (board_id) WHERE role = 'owner';

-- A new user gets their personal board in the same transaction as the account.
CREATE FUNCTION users_personal_board() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO boards (id, name, personal, created_at)
        VALUES (NEW.id, 'My tasks', TRUE, NEW.created_at);
    INSERT INTO board_members (board_id, user_id, role) VALUES (NEW.id, NEW.id, 'owner');
    RETURN NEW;
END $$;
CREATE TRIGGER users_personal_board AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_personal_board();

CREATE TABLE tasks (
    -- Creation order, which a snapshot keeps (SQLite's implicit `rowid`).
    rowid      BIGINT GENERATED ALWAYS AS IDENTITY,
    board_id   TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    title      TEXT NOT NULL,
    done       BOOLEAN NOT NULL DEFAULT FALSE,
    version    BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (board_id, id)
);
CREATE INDEX tasks_in_order ON tasks (board_id, rowid);

CREATE TABLE events (
    board_id TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    seq      BIGINT NOT NULL,
    change   TEXT NOT NULL,
    PRIMARY KEY (board_id, seq)
);
-- Appending an event takes the board's next `seq` (`log_seq + 1`, under the board's row
-- lock); this records it as the board's last in the same statement.
CREATE FUNCTION events_bump_log_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE boards SET log_seq = NEW.seq WHERE id = NEW.board_id;
    RETURN NEW;
END $$;
CREATE TRIGGER events_bump_log_seq AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_bump_log_seq();

-- The server nodes alive now: each says so every second.
CREATE TABLE nodes (
    id      TEXT PRIMARY KEY,
    seen_at TIMESTAMPTZ NOT NULL
);

-- Who is on each board through each node, as `MemberUser` JSON: presence is the union
-- over the nodes seen in the last few seconds.
CREATE TABLE presence (
    node_id  TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    board_id TEXT NOT NULL,
    users    TEXT NOT NULL,
    PRIMARY KEY (node_id, board_id)
);
CREATE INDEX presence_by_board ON presence (board_id);
