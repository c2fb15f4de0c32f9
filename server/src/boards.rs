//! Boards and their members: who may read and change which board, and the calls that
//! make, rename, share and delete boards. A board the caller is not a member of is
//! `not_found` whether it exists or not, so nothing about it leaks.

use std::sync::Arc;

use protocol::{
    Board, BoardChange, BoardList, BoardRole, BoardsEvent, Ended, Member, MemberList, MemberUser,
    NewBoard, Topic, validate_board_name,
};
use uuid::Uuid;

use crate::clock;
use crate::cluster::Hint;
use crate::db::{self, Db, Tx, query, record, stored_id};
use crate::error::AppError;
use crate::fanout::Fanout;

/// Boards one user may own.
pub const MAX_OWNED_BOARDS: i64 = 200;
/// Members of one board, its owner included.
pub const MAX_MEMBERS: i64 = 1_000;

pub struct Boards {
    db: Db,
    fanout: Arc<dyn Fanout>,
    /// Held from a change's write until its board-list events are handed to the
    /// sockets, so that each list's events go out in `seq` order.
    publish_order: tokio::sync::Mutex<()>,
}

/// A member's standing on a board, checked before anything is done to it.
#[derive(Debug, Clone)]
pub struct Access {
    pub board: Uuid,
    pub name: String,
    pub role: BoardRole,
    pub personal: bool,
}

impl Access {
    fn board(&self) -> Board {
        Board {
            id: self.board,
            name: self.name.clone(),
            role: self.role,
            personal: self.personal,
        }
    }

    /// Owners only, and never the personal board (`what` says what was refused).
    fn require_owner(&self, what: &str) -> Result<(), AppError> {
        if self.personal {
            return Err(AppError::forbidden(format!("My tasks cannot be {what}.")));
        }
        if self.role != BoardRole::Owner {
            return Err(AppError::forbidden(format!(
                "Only the board's owner may have it {what}."
            )));
        }
        Ok(())
    }
}

/// `user`'s role on `board` as stored, if they are a member.
pub async fn role_of(tx: &mut Tx, board: Uuid, user: Uuid) -> Result<Option<String>, sqlx::Error> {
    query("SELECT role FROM board_members WHERE board_id = $1 AND user_id = $2")
        .bind(board.to_string())
        .bind(user.to_string())
        .optional_scalar(tx.on())
        .await
}

/// Editors and owners change tasks; viewers only read; anyone else learns nothing.
pub fn may_change_tasks(role: Option<&str>) -> Result<(), AppError> {
    may_change(role.map(stored_role).transpose()?)
}

/// As `may_change_tasks`, for a role already read.
pub fn may_change(role: Option<BoardRole>) -> Result<(), AppError> {
    match role {
        None => Err(no_such_board()),
        Some(role) if role.may_change_tasks() => Ok(()),
        Some(_) => Err(AppError::forbidden("Viewers cannot change this board.")),
    }
}

record! {
    struct AccessRow {
        id: String,
        name: String,
        role: String,
        personal: bool,
    }
}

impl TryFrom<AccessRow> for Access {
    type Error = AppError;

    fn try_from(row: AccessRow) -> Result<Self, AppError> {
        Ok(Self {
            board: stored_id(&row.id)?,
            name: row.name,
            role: stored_role(&row.role)?,
            personal: row.personal,
        })
    }
}

impl Boards {
    pub fn new(db: Db, fanout: Arc<dyn Fanout>) -> Self {
        Self {
            db,
            fanout,
            publish_order: tokio::sync::Mutex::new(()),
        }
    }

    fn publish(&self, events: &[(Uuid, BoardsEvent)]) {
        for (user, event) in events {
            self.fanout.publish_boards(*user, event);
        }
    }

    /// The caller's standing on `board`; `not_found` for anyone not a member.
    pub async fn access(&self, user: Uuid, board: Uuid) -> Result<Access, AppError> {
        access_on(self.db.read(), user, board).await
    }

    pub async fn list(&self, user: Uuid) -> Result<BoardList, AppError> {
        let mut tx = self.db.begin_read().await?;
        let epoch = db::epoch(&mut tx).await?;
        let seq: i64 = query("SELECT boards_seq FROM users WHERE id = $1")
            .bind(user.to_string())
            .scalar(tx.on())
            .await?;
        let rows: Vec<AccessRow> = query(
            "SELECT b.id, b.name, m.role, b.personal FROM boards b \
             JOIN board_members m ON m.board_id = b.id \
             WHERE m.user_id = $1 ORDER BY b.personal DESC, b.created_at, b.id",
        )
        .bind(user.to_string())
        .fetch_all(tx.on())
        .await?;
        tx.commit().await?;
        let items = rows
            .into_iter()
            .map(|row| Access::try_from(row).map(|access| access.board()))
            .collect::<Result<_, _>>()?;
        Ok(BoardList {
            epoch,
            seq: u64::try_from(seq).map_err(|e| AppError::Internal(format!("boards_seq: {e}")))?,
            items,
        })
    }

    /// Makes a board owned by `user`; `created` is false for a retry of one already
    /// made (same id, same owner).
    pub async fn create(&self, user: Uuid, new: NewBoard) -> Result<(Board, bool), AppError> {
        let name = validate_board_name(&new.name)?.to_owned();
        let id = new.id.unwrap_or_else(Uuid::new_v4);
        let _order = self.publish_order.lock().await;
        let mut tx = self.db.begin_write().await?;
        // The owner's row, locked: their boards are counted one change at a time.
        query("UPDATE users SET boards_seq = boards_seq WHERE id = $1")
            .bind(user.to_string())
            .execute(tx.on())
            .await?;
        let exists: Option<String> = query("SELECT id FROM boards WHERE id = $1")
            .bind(id.to_string())
            .optional_scalar(tx.on())
            .await?;
        if exists.is_some() {
            let mine = access_in(&mut tx, user, id).await.ok();
            return match mine {
                Some(access) if access.role == BoardRole::Owner => Ok((access.board(), false)),
                _ => Err(AppError::Conflict("That board id is taken.".into())),
            };
        }
        let retired: Option<String> = query("SELECT id FROM retired_boards WHERE id = $1")
            .bind(id.to_string())
            .optional_scalar(tx.on())
            .await?;
        if retired.is_some() {
            return Err(AppError::Conflict(
                "That board id belonged to a board since deleted; a new board needs a new id."
                    .into(),
            ));
        }
        let owned: i64 =
            query("SELECT COUNT(*) FROM board_members WHERE user_id = $1 AND role = 'owner'")
                .bind(user.to_string())
                .scalar(tx.on())
                .await?;
        // The personal board does not count.
        if owned > MAX_OWNED_BOARDS {
            return Err(AppError::forbidden(format!(
                "You own {MAX_OWNED_BOARDS} boards, the most one person may. Delete one first."
            )));
        }
        // Two people creating one id at once both find it free above (only each one's own
        // creates take turns): the second to insert waits for the first, and is told the
        // id is taken, as the check would have.
        let inserted = query(
            "INSERT INTO boards (id, name, personal, created_at) VALUES ($1, $2, FALSE, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(&name)
        .bind(clock::now_rfc3339())
        .execute(tx.on())
        .await?;
        if inserted == 0 {
            return Err(AppError::Conflict("That board id is taken.".into()));
        }
        query("INSERT INTO board_members (board_id, user_id, role) VALUES ($1, $2, 'owner')")
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(tx.on())
            .await?;
        let board = Board {
            id,
            name,
            role: BoardRole::Owner,
            personal: false,
        };
        let events = lists_changed(
            &mut tx,
            vec![(
                user,
                BoardChange::Upsert {
                    item: board.clone(),
                },
            )],
        )
        .await?;
        tx.commit().await?;
        self.publish(&events);
        Ok((board, true))
    }

    pub async fn rename(&self, user: Uuid, board: Uuid, name: &str) -> Result<Board, AppError> {
        let name = validate_board_name(name)?.to_owned();
        let _order = self.publish_order.lock().await;
        let mut tx = self.db.begin_write().await?;
        tx.lock_board(&board.to_string()).await?;
        let mut access = access_in(&mut tx, user, board).await?;
        access.require_owner("renamed")?;
        let mut events = Vec::new();
        if access.name != name {
            query("UPDATE boards SET name = $1 WHERE id = $2")
                .bind(&name)
                .bind(board.to_string())
                .execute(tx.on())
                .await?;
            let changes = members_of(&mut tx, board)
                .await?
                .into_iter()
                .map(|(member, role)| {
                    let item = Board {
                        id: board,
                        name: name.clone(),
                        role,
                        personal: false,
                    };
                    (member, BoardChange::Upsert { item })
                })
                .collect();
            events = lists_changed(&mut tx, changes).await?;
            access.name = name;
        }
        tx.commit().await?;
        self.publish(&events);
        Ok(access.board())
    }

    /// Deletes the board and its tasks; every member's sockets are told.
    pub async fn delete(&self, user: Uuid, board: Uuid) -> Result<(), AppError> {
        let _order = self.publish_order.lock().await;
        let mut tx = self.db.begin_write().await?;
        tx.lock_board(&board.to_string()).await?;
        access_in(&mut tx, user, board)
            .await?
            .require_owner("deleted")?;
        let changes = members_of(&mut tx, board)
            .await?
            .into_iter()
            .map(|(member, _)| (member, BoardChange::Delete { id: board }))
            .collect();
        query("DELETE FROM boards WHERE id = $1")
            .bind(board.to_string())
            .execute(tx.on())
            .await?;
        query("INSERT INTO retired_boards (id) VALUES ($1)")
            .bind(board.to_string())
            .execute(tx.on())
            .await?;
        // The revoke's word first: the other nodes act on the words in order, and
        // `unsubscribed` is to reach a socket before the board list's `delete`.
        let ended = Hint::Revoke {
            board,
            user: None,
            reason: Ended::Deleted,
        };
        tx.notify(&ended.to_string()).await?;
        let events = lists_changed(&mut tx, changes).await?;
        tx.commit().await?;
        self.fanout.revoke(board, None, Ended::Deleted);
        self.publish(&events);
        Ok(())
    }

    pub async fn members(&self, user: Uuid, board: Uuid) -> Result<MemberList, AppError> {
        let mut tx = self.db.begin_read().await?;
        access_in(&mut tx, user, board).await?;
        let rows: Vec<(String, String, String)> = query(
            "SELECT u.id, u.username, m.role FROM board_members m \
             JOIN users u ON u.id = m.user_id WHERE m.board_id = $1 \
             ORDER BY m.role = 'owner' DESC, u.username",
        )
        .bind(board.to_string())
        .fetch_all(tx.on())
        .await?;
        tx.commit().await?;
        let items = rows
            .into_iter()
            .map(|(id, username, role)| member(&id, username, &role))
            .collect::<Result<_, _>>()?;
        Ok(MemberList { items })
    }

    /// Shares the board with `username`, or changes their role.
    pub async fn set_member(
        &self,
        user: Uuid,
        board: Uuid,
        username: &str,
        role: BoardRole,
    ) -> Result<Member, AppError> {
        if role == BoardRole::Owner {
            return Err(AppError::bad_request(
                "A board has one owner; share it as editor or viewer.",
            ));
        }
        let _order = self.publish_order.lock().await;
        let mut tx = self.db.begin_write().await?;
        tx.lock_board(&board.to_string()).await?;
        let access = access_in(&mut tx, user, board).await?;
        access.require_owner("shared")?;
        let target = user_named(&mut tx, username).await?;
        if target.id == user {
            return Err(AppError::bad_request("The owner's role cannot change."));
        }
        let current = role_of(&mut tx, board, target.id).await?;
        if current.is_none() {
            let count: i64 = query("SELECT COUNT(*) FROM board_members WHERE board_id = $1")
                .bind(board.to_string())
                .scalar(tx.on())
                .await?;
            if count >= MAX_MEMBERS {
                return Err(AppError::forbidden(format!(
                    "A board has at most {MAX_MEMBERS} members."
                )));
            }
        }
        let mut events = Vec::new();
        if current.as_deref() != Some(role.as_str()) {
            query(
                "INSERT INTO board_members (board_id, user_id, role) VALUES ($1, $2, $3) \
                 ON CONFLICT (board_id, user_id) DO UPDATE SET role = excluded.role",
            )
            .bind(board.to_string())
            .bind(target.id.to_string())
            .bind(role.as_str())
            .execute(tx.on())
            .await?;
            let item = Board {
                role,
                ..access.board()
            };
            events =
                lists_changed(&mut tx, vec![(target.id, BoardChange::Upsert { item })]).await?;
        }
        tx.commit().await?;
        self.publish(&events);
        Ok(Member { user: target, role })
    }

    /// The owner removes anyone else; anyone removes themselves (leaving). Their
    /// sockets stop hearing of the board at once.
    pub async fn remove_member(
        &self,
        user: Uuid,
        board: Uuid,
        username: &str,
    ) -> Result<(), AppError> {
        let _order = self.publish_order.lock().await;
        let mut tx = self.db.begin_write().await?;
        tx.lock_board(&board.to_string()).await?;
        let access = access_in(&mut tx, user, board).await?;
        let target = user_named(&mut tx, username).await;
        if target.as_ref().is_ok_and(|target| target.id == user) {
            if access.role == BoardRole::Owner {
                return Err(AppError::bad_request(
                    "The owner cannot leave the board; delete it instead.",
                ));
            }
        } else {
            // Before the name is looked at: which names exist is not a member's to learn.
            access.require_owner("shared or unshared")?;
        }
        let target = target?;
        let removed = query("DELETE FROM board_members WHERE board_id = $1 AND user_id = $2")
            .bind(board.to_string())
            .bind(target.id.to_string())
            .execute(tx.on())
            .await?;
        if removed == 0 {
            return Err(AppError::NotFound(format!(
                "{username} is not on this board."
            )));
        }
        // The revoke's word first, as in `delete`.
        let ended = Hint::Revoke {
            board,
            user: Some(target.id),
            reason: Ended::Removed,
        };
        tx.notify(&ended.to_string()).await?;
        let events = lists_changed(
            &mut tx,
            vec![(target.id, BoardChange::Delete { id: board })],
        )
        .await?;
        tx.commit().await?;
        self.fanout.revoke(board, Some(target.id), Ended::Removed);
        self.publish(&events);
        Ok(())
    }
}

async fn access_in(tx: &mut Tx, user: Uuid, board: Uuid) -> Result<Access, AppError> {
    access_on(tx.on(), user, board).await
}

async fn access_on(on: db::On<'_>, user: Uuid, board: Uuid) -> Result<Access, AppError> {
    let row: Option<AccessRow> = query(
        "SELECT b.id, b.name, m.role, b.personal FROM boards b \
         JOIN board_members m ON m.board_id = b.id WHERE b.id = $1 AND m.user_id = $2",
    )
    .bind(board.to_string())
    .bind(user.to_string())
    .fetch_optional(on)
    .await?;
    row.ok_or_else(no_such_board)?.try_into()
}

fn no_such_board() -> AppError {
    AppError::NotFound("No such board.".into())
}

/// Every member of `board` with their role, read in `tx` (in a change's transaction,
/// under the board's lock: as of that change).
pub async fn members_of(tx: &mut Tx, board: Uuid) -> Result<Vec<(Uuid, BoardRole)>, AppError> {
    let rows: Vec<(String, String)> =
        query("SELECT user_id, role FROM board_members WHERE board_id = $1")
            .bind(board.to_string())
            .fetch_all(tx.on())
            .await?;
    rows.iter()
        .map(|(id, role)| Ok((stored_id(id)?, stored_role(role)?)))
        .collect()
}

fn stored_role(role: &str) -> Result<BoardRole, AppError> {
    BoardRole::parse(role).ok_or_else(|| AppError::Internal(format!("stored role {role:?}")))
}

async fn user_named(tx: &mut Tx, username: &str) -> Result<MemberUser, AppError> {
    // As in `Auth::login`: a name that is not valid is nobody's.
    let id: Option<String> = if protocol::validate_username(username).is_ok() {
        query("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .optional_scalar(tx.on())
            .await?
    } else {
        None
    };
    let id = id.ok_or_else(|| AppError::NotFound(format!("No user is called {username}.")))?;
    Ok(MemberUser {
        id: stored_id(&id)?,
        username: username.to_owned(),
    })
}

/// Each user's board list changed as said: gives each change the next `seq` of that
/// list, as the event to publish once the transaction commits, and tells the other nodes
/// (the board list keeps no log, so the hint carries the event). Users are taken in id
/// order, so that two changes locking the same users' rows cannot deadlock.
async fn lists_changed(
    tx: &mut Tx,
    mut changes: Vec<(Uuid, BoardChange)>,
) -> Result<Vec<(Uuid, BoardsEvent)>, AppError> {
    changes.sort_by_key(|(user, _)| *user);
    let epoch = db::epoch(tx).await?;
    let mut events = Vec::with_capacity(changes.len());
    for (user, change) in changes {
        let seq: i64 = query(
            "UPDATE users SET boards_seq = boards_seq + 1 WHERE id = $1 RETURNING boards_seq",
        )
        .bind(user.to_string())
        .scalar(tx.on())
        .await?;
        let event = BoardsEvent {
            topic: Topic::Boards,
            epoch: epoch.clone(),
            seq: u64::try_from(seq).map_err(|e| AppError::Internal(format!("boards_seq: {e}")))?,
            change,
        };
        tx.notify(
            &Hint::Boards {
                user,
                event: event.clone(),
            }
            .to_string(),
        )
        .await?;
        events.push((user, event));
    }
    Ok(events)
}

fn member(id: &str, username: String, role: &str) -> Result<Member, AppError> {
    Ok(Member {
        user: MemberUser {
            id: stored_id(id)?,
            username,
        },
        role: stored_role(role)?,
    })
}
