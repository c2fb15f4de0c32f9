//! Seed inputs: real frames, written by the protocol's own serialisers, so that the
//! first mutations start from what the server and the app actually exchange.

use protocol::{
    ApiError, Board, BoardChange, BoardRole, BoardsEvent, Change, ClearDoneParams, ClientFrame,
    CreateParams, DeleteParams, Ended, ErrorCode, Event, MemberUser, MethodCall, MethodValue,
    Outcome, Position, Role, ServerFrame, Task, TaskFields, Topic, UpdateParams, User,
};
use uuid::Uuid;

/// Ids of the same shape as the server's (UUID v7), told apart by `n`.
pub fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_a000_0000_7000_8000_0000_0000_0000 | n)
}

pub fn task(n: u128, version: u64, done: bool) -> Task {
    Task {
        id: uuid(n),
        title: format!("Task {n}: buy milk"),
        done,
        version,
        created_at: format!("2026-01-0{}T09:30:00.12{n}Z", 1 + n % 9),
        updated_at: "2026-01-09T10:00:00.000Z".to_owned(),
        updated_by: "maya".to_owned(),
    }
}

fn board_item(n: u128, role: BoardRole, personal: bool) -> Board {
    Board {
        id: uuid(100 + n),
        name: if personal {
            "My tasks".to_owned()
        } else {
            format!("Launch {n}")
        },
        role,
        personal,
    }
}

/// The server's answer to `auth` request `id`.
pub fn auth_ok(id: u64) -> ServerFrame {
    ServerFrame::AuthOk {
        id,
        user: User {
            id: uuid(1000),
            username: "maya".to_owned(),
            role: Role::User,
            acting_as_admin: None,
        },
        expires_at: "2026-01-01T00:15:00Z".to_owned(),
        heartbeat_ms: 25_000,
    }
}

fn event(topic: Topic, seq: u64, change: Change) -> Event {
    Event {
        topic,
        epoch: "01JEPOCH".to_owned(),
        seq,
        change,
    }
}

/// Every kind of event change, on `topic`, from `seq` on.
pub fn events(topic: Topic, seq: u64) -> Vec<Event> {
    vec![
        event(
            topic,
            seq,
            Change::Upsert {
                item: task(4, 1, false),
            },
        ),
        event(
            topic,
            seq + 1,
            Change::Patch {
                id: uuid(1),
                version: 2,
                fields: TaskFields {
                    title: Some("Buy oat milk".to_owned()),
                    done: Some(true),
                    updated_at: Some("2026-01-09T11:00:00.000Z".to_owned()),
                    updated_by: Some("sam".to_owned()),
                },
            },
        ),
        event(topic, seq + 2, Change::Delete { id: uuid(2) }),
    ]
}

/// One of each client frame, most in several shapes.
pub fn client_frames() -> Vec<ClientFrame> {
    let board = Topic::Board(uuid(101));
    let request = |id, call| ClientFrame::Request { id, call };
    vec![
        ClientFrame::Auth {
            id: 1,
            token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYXlhIn0.c2lnbmF0dXJl".to_owned(),
        },
        ClientFrame::Ping { id: 2 },
        ClientFrame::Subscribe {
            id: 3,
            topic: Topic::Tasks,
            since: None,
        },
        ClientFrame::Subscribe {
            id: 4,
            topic: board,
            since: Some(Position {
                epoch: "01JEPOCH".to_owned(),
                seq: 41,
            }),
        },
        ClientFrame::Subscribe {
            id: 5,
            topic: Topic::Boards,
            since: None,
        },
        ClientFrame::Unsubscribe {
            id: 6,
            topic: board,
        },
        request(
            7,
            MethodCall::Create(CreateParams {
                board: None,
                id: Some(uuid(7)),
                title: "  Buy milk ".to_owned(),
            }),
        ),
        request(
            8,
            MethodCall::Create(CreateParams {
                board: Some(uuid(101)),
                id: None,
                title: "Ship it".to_owned(),
            }),
        ),
        request(
            9,
            MethodCall::Update(UpdateParams {
                board: Some(uuid(101)),
                id: uuid(1),
                title: Some("Buy oat milk".to_owned()),
                done: Some(true),
                if_version: Some(3),
            }),
        ),
        request(
            10,
            MethodCall::Update(UpdateParams {
                board: None,
                id: uuid(1),
                title: None,
                done: Some(false),
                if_version: None,
            }),
        ),
        request(
            11,
            MethodCall::Delete(DeleteParams {
                board: None,
                id: uuid(2),
            }),
        ),
        request(12, MethodCall::ClearDone(ClearDoneParams { board: None })),
        request(
            13,
            MethodCall::ClearDone(ClearDoneParams {
                board: Some(uuid(101)),
            }),
        ),
    ]
}

/// One of each server frame, with the ids the app's machine gives its first requests:
/// 1 for `auth`, 2 and 3 for its subscriptions (`boards`, then `tasks`), 4 on for
/// changes.
pub fn server_frames() -> Vec<ServerFrame> {
    let board = Topic::Board(uuid(101));
    let result = |id, outcome| ServerFrame::Result { id, outcome };
    let mut frames = vec![
        auth_ok(1),
        ServerFrame::Pong { id: 4 },
        ServerFrame::Snapshot {
            id: 3,
            topic: Topic::Tasks,
            epoch: "01JEPOCH".to_owned(),
            seq: 10,
            items: vec![task(1, 1, false), task(2, 3, true), task(3, 1, false)],
        },
        ServerFrame::Replay {
            id: 3,
            topic: board,
            epoch: "01JEPOCH".to_owned(),
            seq: 13,
            events: events(board, 11),
        },
        ServerFrame::BoardsSnapshot {
            id: 2,
            topic: Topic::Boards,
            epoch: "01JBOARDS".to_owned(),
            seq: 5,
            items: vec![
                board_item(0, BoardRole::Owner, true),
                board_item(1, BoardRole::Editor, false),
            ],
        },
        ServerFrame::BoardsEvent(BoardsEvent {
            topic: Topic::Boards,
            epoch: "01JBOARDS".to_owned(),
            seq: 6,
            change: BoardChange::Upsert {
                item: board_item(2, BoardRole::Viewer, false),
            },
        }),
        ServerFrame::BoardsEvent(BoardsEvent {
            topic: Topic::Boards,
            epoch: "01JBOARDS".to_owned(),
            seq: 7,
            change: BoardChange::Delete { id: uuid(101) },
        }),
        result(
            4,
            Outcome::Ok(MethodValue {
                task: Some(task(7, 1, false)),
                deleted: None,
            }),
        ),
        result(
            5,
            Outcome::Ok(MethodValue {
                task: None,
                deleted: Some(2),
            }),
        ),
        result(6, Outcome::Ok(MethodValue::default())),
        result(
            7,
            Outcome::Error(ApiError {
                code: ErrorCode::Conflict,
                message: "The task changed meanwhile.".to_owned(),
                current: Some(Box::new(task(1, 4, true))),
            }),
        ),
        ServerFrame::Unsubscribed {
            topic: board,
            reason: Ended::Removed,
        },
        ServerFrame::Unsubscribed {
            topic: board,
            reason: Ended::Deleted,
        },
        ServerFrame::Presence {
            topic: board,
            users: vec![MemberUser {
                id: uuid(1000),
                username: "maya".to_owned(),
            }],
        },
        ServerFrame::Error {
            id: Some(8),
            code: ErrorCode::BadRequest,
            message: "Titles are at most 200 characters.".to_owned(),
        },
        ServerFrame::Error {
            id: None,
            code: ErrorCode::RateLimited,
            message: "Too many frames; slow down.".to_owned(),
        },
    ];
    frames.extend(events(Topic::Tasks, 11).into_iter().map(ServerFrame::Event));
    frames
}

/// Texts on the edges of JSON and of the frame shapes, for either side.
pub const EDGE_CASES: &[&str] = &[
    "",
    " ",
    "{}",
    "[]",
    "null",
    "\"ping\"",
    "{\"type\":\"ping\"}",
    "{\"type\":\"ping\",\"id\":18446744073709551615}",
    "{\"type\":\"ping\",\"id\":-1}",
    "{\"type\":\"ping\",\"id\":1.0}",
    "{\"type\":\"ping\",\"id\":1,\"id\":2}",
    "{\"type\":\"ping\",\"type\":\"pong\",\"id\":1}",
    "{\"type\":null,\"id\":7}",
    "{\"type\":\"\\u0070ing\",\"id\":7}",
    "{\"type\":\"nope\",\"id\":7}",
    "{\"type\":\"subscribe\",\"id\":1,\"topic\":\"board:\"}",
    "{\"type\":\"request\",\"id\":1,\"method\":\"task.create\"}",
    "{\"type\":\"request\",\"id\":1,\"method\":\"task.create\",\"params\":{\"title\":\"\\u0000\"}}",
    "{\"type\":\"request\",\"id\":1,\"method\":\"task.nope\",\"params\":{}}",
    "{\"type\":\"result\",\"id\":1,\"ok\":null}",
    "{\"type\":\"result\",\"id\":1,\"ok\":{},\"error\":{\"code\":\"internal\",\"message\":\"\"}}",
    "{\"type\":\"snapshot\",\"id\":2,\"topic\":\"boards\",\"epoch\":\"e\",\"seq\":1,\"items\":[]}",
    "{\"type\":\"replay\",\"id\":2,\"topic\":\"boards\",\"epoch\":\"e\",\"seq\":1,\"events\":[]}",
    "{\"type\":\"event\",\"topic\":\"boards\",\"epoch\":\"e\",\"seq\":1,\"op\":\"patch\"}",
    "{\"type\":\"event\",\"topic\":\"tasks\",\"epoch\":\"e\",\"seq\":1,\"op\":\"delete\",\"id\":\"0190a000-0000-7000-8000-000000000001\",\"item\":7}",
];

/// The corpus's own values have string keys only, so serialising them cannot fail.
pub const SERIALISES: &str = "protocol values always serialise";

/// What a client sends: every client frame, and the edge cases.
pub fn client_texts() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = client_frames()
        .iter()
        .map(|frame| serde_json::to_vec(frame).expect(SERIALISES))
        .collect();
    seeds.extend(EDGE_CASES.iter().map(|text| text.as_bytes().to_vec()));
    seeds
}

/// What the server sends: every server frame, and the edge cases.
pub fn server_texts() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = server_frames()
        .iter()
        .map(|frame| serde_json::to_vec(frame).expect(SERIALISES))
        .collect();
    seeds.extend(EDGE_CASES.iter().map(|text| text.as_bytes().to_vec()));
    seeds
}
