//! Accounts and sessions: registration, sign-in, refresh-token rotation with theft
//! detection, sign-out, and admins acting as other users.

mod hs256;
pub mod password;
pub mod refresh;
pub mod token;

use std::time::Duration;

use protocol::{CloseCode, Credentials, Role, Session, User};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::clock;
use crate::cluster::{Hint, SESSIONS_PER_HINT};
use crate::db::{Db, Tx, query, record, stored_id};
use crate::error::AppError;
pub use refresh::RefreshToken;
use token::{TokenError, TokenKeys};

/// A caller whose access token checked out against a live session.
#[derive(Debug, Clone)]
pub struct Authed {
    pub user: User,
    pub session_id: Uuid,
    /// The token's expiry (Unix seconds).
    pub expires_at: i64,
    acting: Option<Acting>,
}

#[derive(Debug, Clone)]
struct Acting {
    admin_id: Uuid,
    parent_session: Option<Uuid>,
}

impl Authed {
    pub fn user_id(&self) -> Uuid {
        self.user.id
    }

    /// The caller as the maker of a change.
    pub fn actor(&self) -> crate::changelog::Actor {
        crate::changelog::Actor {
            user: self.user.id,
            username: self.user.username.clone(),
            session: self.session_id,
        }
    }

    fn require_admin(&self) -> Result<(), AppError> {
        if self.user.role == Role::Admin && self.acting.is_none() {
            Ok(())
        } else {
            Err(AppError::forbidden("Only admins may do that."))
        }
    }
}

/// A new or refreshed session: the body for the client, and the refresh token for the
/// cookie.
#[derive(Debug)]
pub struct Issued {
    pub session: Session,
    pub refresh: RefreshToken,
}

/// How ending an acting session went; the acting session has ended either way.
#[derive(Debug)]
pub enum Exited {
    /// Back in the admin's own session.
    Returned(Issued),
    /// The admin's own session had ended meanwhile.
    OwnSessionEnded,
}

/// The close reason of a signed-out session's sockets.
const SIGNED_OUT: &str = "signed out";

/// How long after a rotation the token it replaced still gets a new one: long
/// enough for a client to notice a lost answer and try again (the app's deadline is 15 s,
/// its retries back off to 10 s), short enough to leave a thief little time.
const LOST_ANSWER_GRACE_SECS: i64 = 120;

/// The refresh token a rotation replaces, which the browser may still hold.
enum Replaced<'a> {
    /// Just presented and spent (its hash).
    Now(&'a str),
    /// Presented again within the grace after a lost answer: the rotation it first got
    /// keeps its time, so the grace never grows.
    Before(&'a str, i64),
    /// The browser no longer holds it (its cookie was replaced): no grace.
    Taken,
}

/// Sessions a call ended, and how their sockets close. The other nodes hear of it in
/// the ending's own transaction (PostgreSQL sends a `NOTIFY` when it commits), so a
/// sign-out that committed always reaches them; this node closes its own sockets with
/// what the call gives back.
#[derive(Debug)]
pub struct EndedSessions {
    pub sessions: Vec<Uuid>,
    pub code: CloseCode,
    pub reason: &'static str,
}

impl EndedSessions {
    async fn told(
        tx: &mut Tx,
        sessions: Vec<Uuid>,
        code: CloseCode,
        reason: &'static str,
    ) -> Result<Self, AppError> {
        for chunk in sessions.chunks(SESSIONS_PER_HINT) {
            let hint = Hint::CloseSessions {
                sessions: chunk.to_vec(),
                code,
                reason,
            };
            tx.notify(&hint.to_string()).await?;
        }
        Ok(Self {
            sessions,
            code,
            reason,
        })
    }
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum RefreshOutcome {
    Rotated(Issued),
    /// The token had been exchanged before: it was stolen or replayed, so its session is
    /// now revoked (and its sockets must be closed).
    Reused(EndedSessions),
    Unknown,
}

record! {
    #[derive(Debug)]
    struct UserRow {
        id: String,
        username: String,
        role: String,
    }
}

impl UserRow {
    fn into_user(self, acting_as_admin: Option<String>) -> Result<User, AppError> {
        Ok(User {
            id: stored_id(&self.id)?,
            username: self.username,
            role: parse_role(&self.role)?,
            acting_as_admin,
        })
    }
}

record! {
    #[derive(Debug)]
    struct SessionRow {
        user_id: String,
        username: String,
        role: String,
        acting_admin_id: Option<String>,
        acting_admin_name: Option<String>,
        parent_session_id: Option<String>,
    }
}

const SESSION_QUERY: &str = "SELECT s.user_id, u.username, u.role, s.acting_admin_id, \
     a.username AS acting_admin_name, s.parent_session_id \
     FROM sessions s JOIN users u ON u.id = s.user_id \
     LEFT JOIN users a ON a.id = s.acting_admin_id WHERE s.id = $1";

pub struct Auth {
    db: Db,
    keys: TokenKeys,
    session_ttl: Duration,
    dummy_hash: OnceCell<String>,
    hasher: password::Hasher,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(
        db: Db,
        secret: &[u8],
        access_ttl: Duration,
        session_ttl: Duration,
    ) -> Result<Self, std::io::Error> {
        Ok(Self {
            db,
            keys: TokenKeys::new(secret, access_ttl),
            session_ttl,
            dummy_hash: OnceCell::new(),
            hasher: password::Hasher::new()?,
        })
    }

    /// Forgets sessions whose refresh token has expired.
    pub async fn prune_expired(&self) -> Result<u64, AppError> {
        let done = query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(clock::unix_now())
            .execute(self.db.write())
            .await?;
        Ok(done)
    }

    pub async fn register(&self, credentials: Credentials) -> Result<Issued, AppError> {
        protocol::validate_username(&credentials.username)?;
        protocol::validate_password(&credentials.password)?;
        let hash = self.hasher.hash(credentials.password).await?;
        let id = Uuid::new_v4();
        let mut tx = self.db.begin_write().await?;
        let inserted = query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(&credentials.username)
        .bind(hash)
        .bind(clock::now_rfc3339())
        .execute(tx.on())
        .await?;
        if inserted == 0 {
            return Err(AppError::Conflict("That username is taken.".into()));
        }
        let user = User {
            id,
            username: credentials.username,
            role: Role::User,
            acting_as_admin: None,
        };
        let issued = self.start_session(&mut tx, user, None).await?;
        tx.commit().await?;
        Ok(issued)
    }

    pub async fn login(&self, credentials: Credentials) -> Result<Issued, AppError> {
        let wrong = || AppError::unauthorized("Wrong username or password.");
        // No user has a name that is not valid, and one that is not (a NUL byte) is not
        // put to the database, where PostgreSQL refuses it as text with an error.
        let row: Option<(String, String, String, String)> =
            if protocol::validate_username(&credentials.username).is_ok() {
                query("SELECT id, username, role, password_hash FROM users WHERE username = $1")
                    .bind(&credentials.username)
                    .fetch_optional(self.db.read())
                    .await?
            } else {
                None
            };
        let Some((id, username, role, hash)) = row else {
            // Spend the same time as for a wrong password: names stay secret.
            let dummy = self
                .dummy_hash
                .get_or_try_init(|| self.hasher.hash("not a real password".to_owned()))
                .await?;
            self.hasher
                .verify(credentials.password, dummy.clone())
                .await?;
            return Err(wrong());
        };
        if !self.hasher.verify(credentials.password, hash).await? {
            return Err(wrong());
        }
        let user = UserRow { id, username, role }.into_user(None)?;
        let mut tx = self.db.begin_write().await?;
        let issued = self.start_session(&mut tx, user, None).await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Checks an access token and that its session is still alive.
    pub async fn authenticate(&self, token: &str) -> Result<Authed, AppError> {
        let claims = self.keys.verify(token).map_err(|e| match e {
            TokenError::Expired => AppError::unauthorized("The token has expired."),
            _ => AppError::unauthorized("The token is not valid."),
        })?;
        let row: Option<SessionRow> = query(SESSION_QUERY)
            .bind(claims.sid.to_string())
            .fetch_optional(self.db.read())
            .await?;
        let Some(row) = row else {
            return Err(AppError::unauthorized("The session has ended."));
        };
        if stored_id(&row.user_id)? != claims.sub {
            return Err(AppError::unauthorized("The token is not valid."));
        }
        let acting = match &row.acting_admin_id {
            Some(admin) => Some(Acting {
                admin_id: stored_id(admin)?,
                parent_session: row
                    .parent_session_id
                    .as_deref()
                    .map(stored_id)
                    .transpose()?,
            }),
            None => None,
        };
        let user = UserRow {
            id: row.user_id,
            username: row.username,
            role: row.role,
        }
        .into_user(row.acting_admin_name)?;
        Ok(Authed {
            user,
            session_id: claims.sid,
            expires_at: claims.exp,
            acting,
        })
    }

    /// Whether the session still exists: asked again after a socket registers for
    /// closes, so that a logout that ran between the token check and the registration
    /// cannot leave the socket open (its closing sweep ran before the socket was there).
    pub async fn session_alive(&self, session_id: Uuid) -> Result<bool, AppError> {
        let found: Option<String> = query("SELECT id FROM sessions WHERE id = $1")
            .bind(session_id.to_string())
            .optional_scalar(self.db.read())
            .await?;
        Ok(found.is_some())
    }

    /// Exchanges a refresh token for a new access token and a new refresh token.
    pub async fn refresh(&self, presented: &str) -> Result<RefreshOutcome, AppError> {
        let hash = RefreshToken::hash_of(presented);
        let mut tx = self.db.begin_write().await?;
        // An update that changes nothing, for its row lock: of two nodes presenting the
        // same token at once, the second waits, then finds the token spent (PostgreSQL
        // reads the row again once the lock is free). On SQLite the writer is one already.
        let live: Option<(String, i64)> = query(
            "UPDATE sessions SET expires_at = expires_at WHERE refresh_hash = $1 \
             RETURNING id, expires_at",
        )
        .bind(&hash)
        .fetch_optional(tx.on())
        .await?;
        if let Some((session_id, expires_at)) = live {
            if expires_at < clock::unix_now() {
                query("DELETE FROM sessions WHERE id = $1")
                    .bind(&session_id)
                    .execute(tx.on())
                    .await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Unknown);
            }
            query("INSERT INTO spent_refresh_tokens (hash, session_id) VALUES ($1, $2)")
                .bind(&hash)
                .bind(&session_id)
                .execute(tx.on())
                .await?;
            let replaced = Replaced::Now(&hash);
            let issued = self
                .rotate(&mut tx, stored_id(&session_id)?, replaced)
                .await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Rotated(issued));
        }
        let spent: Option<String> =
            query("SELECT session_id FROM spent_refresh_tokens WHERE hash = $1")
                .bind(&hash)
                .optional_scalar(tx.on())
                .await?;
        let Some(session_id) = spent else {
            return Ok(RefreshOutcome::Unknown);
        };
        // The token the current one replaced, presented again soon after: the answer
        // that carried the new one never arrived (a dropped connection, a deadline), so
        // the browser still holds this one. The new token, never delivered, is spent in
        // its turn and another issued. A thief who presents it instead only moves the
        // theft's discovery on: the owner's next refresh, with the token they did get,
        // finds it spent and revokes the session.
        let lost: Option<(String, i64)> = query(
            "UPDATE sessions SET expires_at = expires_at              WHERE id = $1 AND previous_hash = $2 AND rotated_at >= $3 AND expires_at >= $4              RETURNING refresh_hash, rotated_at",
        )
        .bind(&session_id)
        .bind(&hash)
        .bind(clock::unix_now().saturating_sub(LOST_ANSWER_GRACE_SECS))
        .bind(clock::unix_now())
        .fetch_optional(tx.on())
        .await?;
        if let Some((undelivered, rotated_at)) = lost {
            tracing::warn!(
                session = %session_id,
                "a spent refresh token again, soon after: taken for a lost answer"
            );
            query("INSERT INTO spent_refresh_tokens (hash, session_id) VALUES ($1, $2)")
                .bind(&undelivered)
                .bind(&session_id)
                .execute(tx.on())
                .await?;
            let replaced = Replaced::Before(&hash, rotated_at);
            let issued = self
                .rotate(&mut tx, stored_id(&session_id)?, replaced)
                .await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::Rotated(issued));
        }
        // With the session, its admin's or its acting ones: a pair ends together.
        let ended = end_with_parent(&mut tx, &session_id).await?;
        let ended =
            EndedSessions::told(&mut tx, ended, CloseCode::Unauthorized, "session revoked").await?;
        tx.commit().await?;
        tracing::warn!(session = %session_id, "refresh token reused: session revoked");
        Ok(RefreshOutcome::Reused(ended))
    }

    /// Ends the session a refresh token belongs to, live or already spent: signing out
    /// with the cookie alone, so that an access token that has expired cannot keep a
    /// session alive. Returns the ended session, if there was one.
    pub async fn logout_by_refresh(&self, presented: &str) -> Result<EndedSessions, AppError> {
        let mut tx = self.db.begin_write().await?;
        let session: Option<String> = query(
            "SELECT id FROM sessions WHERE refresh_hash = $1 \
             UNION SELECT session_id FROM spent_refresh_tokens WHERE hash = $1",
        )
        .bind(RefreshToken::hash_of(presented))
        .optional_scalar(tx.on())
        .await?;
        let ended = match session {
            Some(session) => end_with_parent(&mut tx, &session).await?,
            None => Vec::new(),
        };
        let ended =
            EndedSessions::told(&mut tx, ended, CloseCode::Unauthorized, SIGNED_OUT).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Ends the session an expired access token names, if this server signed it: never
    /// the one the browser's cookie names by now, which another tab may have signed in
    /// as someone else since. `None` for a token that is not this server's.
    pub async fn logout_expired(&self, token: &str) -> Result<Option<EndedSessions>, AppError> {
        let Ok(claims) = self.keys.verify_expired_too(token) else {
            return Ok(None);
        };
        let mut tx = self.db.begin_write().await?;
        let ended = end_with_parent(&mut tx, &claims.sid.to_string()).await?;
        let ended =
            EndedSessions::told(&mut tx, ended, CloseCode::Unauthorized, SIGNED_OUT).await?;
        tx.commit().await?;
        Ok(Some(ended))
    }

    /// Ends one session; returns the sessions ended.
    pub async fn logout(&self, authed: &Authed) -> Result<EndedSessions, AppError> {
        let mut tx = self.db.begin_write().await?;
        let ended = end_with_parent(&mut tx, &authed.session_id.to_string()).await?;
        let ended =
            EndedSessions::told(&mut tx, ended, CloseCode::Unauthorized, SIGNED_OUT).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Ends every session of the person signed in, and those in which they, an admin, act
    /// as someone else. While acting, that person is the admin: the sessions of the user
    /// acted as are theirs, and stay.
    pub async fn logout_all(&self, authed: &Authed) -> Result<EndedSessions, AppError> {
        let person = authed
            .acting
            .as_ref()
            .map_or(authed.user_id(), |acting| acting.admin_id);
        let user = person.to_string();
        let mut tx = self.db.begin_write().await?;
        let ended: Vec<String> =
            query("DELETE FROM sessions WHERE user_id = $1 OR acting_admin_id = $2 RETURNING id")
                .bind(&user)
                .bind(&user)
                .scalars(tx.on())
                .await?;
        let ended = ended
            .iter()
            .map(|id| stored_id(id))
            .collect::<Result<_, _>>()?;
        let ended = EndedSessions::told(
            &mut tx,
            ended,
            CloseCode::LoggedOutEverywhere,
            "signed out everywhere",
        )
        .await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// An admin starts acting as `username` in a new session of that user.
    pub async fn login_as(&self, admin: &Authed, username: &str) -> Result<Issued, AppError> {
        admin.require_admin()?;
        // As in `login`: a name that is not valid is nobody's.
        let row: Option<UserRow> = if protocol::validate_username(username).is_ok() {
            query("SELECT id, username, role FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(self.db.read())
                .await?
        } else {
            None
        };
        let Some(row) = row else {
            return Err(AppError::NotFound("No such user.".into()));
        };
        let user = row.into_user(Some(admin.user.username.clone()))?;
        if user.id == admin.user_id() {
            return Err(AppError::bad_request(
                "You are already signed in as yourself.",
            ));
        }
        let acting = Acting {
            admin_id: admin.user_id(),
            parent_session: Some(admin.session_id),
        };
        let mut tx = self.db.begin_write().await?;
        let issued = self.start_session(&mut tx, user, Some(acting)).await?;
        tx.commit().await?;
        // Changes made while acting are credited to the user acted as: the log is where
        // an admin's acting is on record.
        tracing::warn!(
            admin = %admin.user.username,
            user = %username,
            "an admin acts as another user"
        );
        Ok(issued)
    }

    /// Ends an acting session and returns to the admin's own session, with a new refresh
    /// token for it (the browser's cookie was replaced by the acting session's).
    pub async fn exit_login_as(
        &self,
        authed: &Authed,
    ) -> Result<(Exited, EndedSessions), AppError> {
        let Some(acting) = &authed.acting else {
            return Err(AppError::bad_request(
                "This session is not acting as anyone.",
            ));
        };
        let mut tx = self.db.begin_write().await?;
        query("DELETE FROM sessions WHERE id = $1")
            .bind(authed.session_id.to_string())
            .execute(tx.on())
            .await?;
        // The acting session has ended whichever way this goes: its sockets go too.
        let ended = EndedSessions::told(
            &mut tx,
            vec![authed.session_id],
            CloseCode::Unauthorized,
            "stopped acting as this user",
        )
        .await?;
        let parent_alive = match acting.parent_session {
            Some(parent) => query("SELECT COUNT(*) FROM sessions WHERE id = $1 AND user_id = $2")
                .bind(parent.to_string())
                .bind(acting.admin_id.to_string())
                .scalar::<i64>(tx.on())
                .await?
                .eq(&1)
                .then_some(parent),
            None => None,
        };
        let Some(parent) = parent_alive else {
            tx.commit().await?;
            return Ok((Exited::OwnSessionEnded, ended));
        };
        // The admin's old refresh token is spent: the browser no longer holds it, so
        // anyone presenting it took it.
        query(
            "INSERT INTO spent_refresh_tokens (hash, session_id) \
             SELECT refresh_hash, id FROM sessions WHERE id = $1",
        )
        .bind(parent.to_string())
        .execute(tx.on())
        .await?;
        let issued = self.rotate(&mut tx, parent, Replaced::Taken).await?;
        tx.commit().await?;
        Ok((Exited::Returned(issued), ended))
    }

    pub async fn list_users(&self, admin: &Authed) -> Result<Vec<User>, AppError> {
        admin.require_admin()?;
        let rows: Vec<UserRow> = query("SELECT id, username, role FROM users ORDER BY username")
            .fetch_all(self.db.read())
            .await?;
        rows.into_iter().map(|row| row.into_user(None)).collect()
    }

    async fn start_session(
        &self,
        tx: &mut Tx,
        user: User,
        acting: Option<Acting>,
    ) -> Result<Issued, AppError> {
        let session_id = Uuid::new_v4();
        let refresh = RefreshToken::generate();
        query(
            "INSERT INTO sessions (id, user_id, acting_admin_id, parent_session_id, refresh_hash, \
             expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session_id.to_string())
        .bind(user.id.to_string())
        .bind(acting.as_ref().map(|a| a.admin_id.to_string()))
        .bind(
            acting
                .as_ref()
                .and_then(|a| a.parent_session.map(|p| p.to_string())),
        )
        .bind(refresh.hash())
        .bind(self.session_expiry())
        .bind(clock::now_rfc3339())
        .execute(tx.on())
        .await?;
        self.issue(user, session_id, refresh)
    }

    /// Gives a live session a new refresh token (the caller has spent the old one).
    async fn rotate(
        &self,
        tx: &mut Tx,
        session_id: Uuid,
        replaced: Replaced<'_>,
    ) -> Result<Issued, AppError> {
        let refresh = RefreshToken::generate();
        let (previous, rotated_at) = match replaced {
            Replaced::Now(hash) => (Some(hash), clock::unix_now()),
            Replaced::Before(hash, at) => (Some(hash), at),
            Replaced::Taken => (None, clock::unix_now()),
        };
        query(
            "UPDATE sessions SET refresh_hash = $1, expires_at = $2, previous_hash = $3, \
             rotated_at = $4 WHERE id = $5",
        )
        .bind(refresh.hash())
        .bind(self.session_expiry())
        .bind(previous.map(str::to_owned))
        .bind(rotated_at)
        .bind(session_id.to_string())
        .execute(tx.on())
        .await?;
        let row: SessionRow = query(SESSION_QUERY)
            .bind(session_id.to_string())
            .fetch_one(tx.on())
            .await?;
        let user = UserRow {
            id: row.user_id,
            username: row.username,
            role: row.role,
        }
        .into_user(row.acting_admin_name)?;
        self.issue(user, session_id, refresh)
    }

    fn issue(
        &self,
        user: User,
        session_id: Uuid,
        refresh: RefreshToken,
    ) -> Result<Issued, AppError> {
        let (token, exp) = self
            .keys
            .issue(user.id, session_id)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Issued {
            session: Session {
                token,
                expires_at: clock::unix_to_rfc3339(exp),
                user,
            },
            refresh,
        })
    }

    fn session_expiry(&self) -> i64 {
        let ttl = i64::try_from(self.session_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        clock::unix_now().saturating_add(ttl)
    }
}

/// Ends `session` and, when it acts as someone else, the admin's own session it would
/// return to: signing out while acting signs the admin out. That session's refresh token
/// left the browser when the acting session's cookie replaced it, so nobody who should
/// could use it again, and it would otherwise live on unseen until it expired. The other
/// way round too: an admin's own session ending ends the sessions it started acting as
/// someone, whose authority was the admin's.
async fn end_with_parent(tx: &mut Tx, session: &str) -> Result<Vec<Uuid>, AppError> {
    let ended: Vec<String> = query(
        "DELETE FROM sessions WHERE id = $1 OR parent_session_id = $1 \
         OR id = (SELECT parent_session_id FROM sessions WHERE id = $1) RETURNING id",
    )
    .bind(session)
    .scalars(tx.on())
    .await?;
    ended.iter().map(|id| stored_id(id)).collect()
}

/// Makes `username` an admin (the `user promote` command). Returns whether it exists.
pub async fn promote(db: &Db, username: &str) -> Result<bool, sqlx::Error> {
    let done = query("UPDATE users SET role = 'admin' WHERE username = $1")
        .bind(username)
        .execute(db.write())
        .await?;
    Ok(done == 1)
}

fn parse_role(text: &str) -> Result<Role, AppError> {
    match text {
        "admin" => Ok(Role::Admin),
        "user" => Ok(Role::User),
        other => Err(AppError::Internal(format!("stored role {other:?}"))),
    }
}
