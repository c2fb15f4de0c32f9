-- Key/value settings the server creates once and keeps: the JWT secret (when none is
-- configured) and the change log's epoch.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    -- The last `seq` handed out in this user's change log.
    log_seq       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);

-- One row per signed-in device. Deleting the row revokes the session: access tokens name
-- it in `sid` and are checked against it, so revocation survives a restart.
CREATE TABLE sessions (
    id                TEXT PRIMARY KEY NOT NULL,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Set while an admin acts as `user_id` (login-as): the admin, and the admin's own
    -- session to return to.
    acting_admin_id   TEXT REFERENCES users (id) ON DELETE CASCADE,
    parent_session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    -- SHA-256 of the one refresh token that works now (never the token itself).
    refresh_hash      TEXT NOT NULL UNIQUE,
    -- Unix seconds; the refresh token is refused after this.
    expires_at        INTEGER NOT NULL,
    created_at        TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_admin ON sessions (acting_admin_id);

-- Refresh tokens already exchanged: presenting one again means it was stolen, and the
-- whole session is revoked.
CREATE TABLE spent_refresh_tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX spent_by_session ON spent_refresh_tokens (session_id);

-- Ids are chosen by clients, so they are unique per user only: another user's id is
-- simply not there (not_found), and reveals nothing.
CREATE TABLE tasks (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    title      TEXT NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0,
    version    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, id)
);

-- The change log: the last N changes of each user, as `protocol::Change` JSON, so that a
-- client that was away (or a server restart) can be caught up by replay.
CREATE TABLE events (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    change  TEXT NOT NULL,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
