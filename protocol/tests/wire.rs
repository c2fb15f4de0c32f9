//! The contract's own examples, and every way a frame can be bad.

use serde_json::{Value, json};
use taskwire_protocol::{
    ClientFrame, DecodeErrorKind, MAX_FRAME_BYTES, MAX_SERVER_FRAME_BYTES, ServerFrame,
    decode_client, decode_server,
};

/// Section 3 of protocol.md, with its elisions (`..`) filled in with real values.
const ID: &str = "0b2f4e6a-8c1d-4e3f-9a5b-7c9d1e2f3a4b";
const USER: &str = "7f3e2d1c-0b9a-4877-8665-544332211000";
const T: &str = "2026-11-22T22:45:00Z";
const BOARD: &str = "5a1d7c3e-2b4f-4c6d-8e9f-0a1b2c3d4e5f";

fn client_examples() -> Vec<Value> {
    vec![
        json!({"type":"auth","id":1,"token":"eyJhbGciOiJIUzI1NiJ9.e30.sig"}),
        json!({"type":"subscribe","id":2,"topic":"tasks"}),
        json!({"type":"request","id":3,"method":"task.update","params":{"id":ID,"done":true}}),
        json!({"type":"ping","id":4}),
        json!({"type":"subscribe","id":5,"topic":"tasks","since":{"epoch":"e1","seq":41}}),
        json!({"type":"unsubscribe","id":6,"topic":"tasks"}),
        json!({"type":"request","id":7,"method":"task.create","params":{"id":ID,"title":"Buy milk"}}),
        json!({"type":"request","id":8,"method":"task.create","params":{"title":"Buy milk"}}),
        json!({"type":"request","id":9,"method":"task.delete","params":{"id":ID}}),
        json!({"type":"request","id":10,"method":"task.clear_done","params":{}}),
        json!({"type":"subscribe","id":11,"topic":"boards"}),
        json!({"type":"subscribe","id":12,"topic":format!("board:{BOARD}"),"since":{"epoch":"e1","seq":3}}),
        json!({"type":"request","id":13,"method":"task.update","params":{"board":BOARD,"id":ID,"title":"Oat milk","if_version":4}}),
        json!({"type":"request","id":14,"method":"task.clear_done","params":{"board":BOARD}}),
    ]
}

fn server_examples() -> Vec<Value> {
    let task = json!({"id":ID,"title":"Buy milk","done":false,"version":1,"created_at":T,"updated_at":T,"updated_by":"maya"});
    let done = json!({"id":ID,"title":"Buy milk","done":true,"version":2,"created_at":T,"updated_at":T,"updated_by":"maya"});
    vec![
        json!({"type":"auth_ok","id":1,"user":{"id":USER,"username":"alice","role":"user"},"expires_at":"2026-11-22T23:00:00Z","heartbeat_ms":25000}),
        json!({"type":"snapshot","id":2,"topic":"tasks","epoch":"e1","seq":41,"items":[task]}),
        json!({"type":"event","topic":"tasks","epoch":"e1","seq":42,"op":"patch","id":ID,"version":2,"fields":{"done":true,"updated_at":T,"updated_by":"maya"}}),
        json!({"type":"result","id":3,"ok":{"task":done}}),
        json!({"type":"auth_ok","id":1,"user":{"id":USER,"username":"bob","role":"admin","acting_as_admin":"root"},"expires_at":T,"heartbeat_ms":25000}),
        json!({"type":"pong","id":4}),
        json!({"type":"replay","id":5,"topic":"tasks","epoch":"e1","seq":43,"events":[
            {"topic":"tasks","epoch":"e1","seq":42,"op":"upsert","item":task},
            {"topic":"tasks","epoch":"e1","seq":43,"op":"delete","id":ID}]}),
        json!({"type":"result","id":6,"ok":{}}),
        json!({"type":"result","id":7,"error":{"code":"not_found","message":"No such task."}}),
        json!({"type":"result","id":10,"ok":{"deleted":3}}),
        json!({"type":"error","id":11,"code":"bad_request","message":"frame lacks the field \"id\""}),
        json!({"type":"error","code":"unauthorized","message":"auth first"}),
        json!({"type":"snapshot","id":12,"topic":"boards","epoch":"e1","seq":7,"items":[
            {"id":USER,"name":"My tasks","role":"owner","personal":true},
            {"id":BOARD,"name":"Trip","role":"viewer","personal":false}]}),
        json!({"type":"event","topic":"boards","epoch":"e1","seq":8,"op":"upsert","item":{"id":BOARD,"name":"Trip <2>","role":"editor","personal":false}}),
        json!({"type":"event","topic":"boards","epoch":"e1","seq":9,"op":"delete","id":BOARD}),
        json!({"type":"snapshot","id":13,"topic":format!("board:{BOARD}"),"epoch":"e1","seq":2,"items":[task]}),
        json!({"type":"event","topic":format!("board:{BOARD}"),"epoch":"e1","seq":3,"op":"delete","id":ID}),
        json!({"type":"unsubscribed","topic":format!("board:{BOARD}"),"reason":"removed"}),
        json!({"type":"presence","topic":format!("board:{BOARD}"),"users":[{"id":USER,"username":"alice"}]}),
    ]
}

#[test]
fn every_client_example_decodes_and_re_encodes_to_the_same_json() {
    for example in client_examples() {
        let frame =
            decode_client(&example.to_string()).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!(serde_json::to_value(&frame).unwrap(), example);
    }
}

#[test]
fn every_server_example_decodes_and_re_encodes_to_the_same_json() {
    for example in server_examples() {
        let frame =
            decode_server(&example.to_string()).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!(serde_json::to_value(&frame).unwrap(), example);
    }
}

/// Fields the contract does not name are ignored, and an empty replay is a replay.
#[test]
fn the_server_frame_reader_reads_what_it_should() {
    for (frame, expected) in [
        (
            json!({"type":"result","id":12,"ok":{"deleted":3,"unnamed":true}}),
            json!({"type":"result","id":12,"ok":{"deleted":3}}),
        ),
        (
            json!({"type":"replay","id":13,"topic":"tasks","epoch":"e2","seq":0,"events":[]}),
            json!({"type":"replay","id":13,"topic":"tasks","epoch":"e2","seq":0,"events":[]}),
        ),
        (
            json!({"type":"pong","id":14,"extra":"ignored"}),
            json!({"type":"pong","id":14}),
        ),
        // `heartbeat_ms` is optional, with the contract's default.
        (
            json!({"type":"auth_ok","id":1,"user":{"id":USER,"username":"alice","role":"user"},"expires_at":T}),
            json!({"type":"auth_ok","id":1,"user":{"id":USER,"username":"alice","role":"user"},"expires_at":T,"heartbeat_ms":25000}),
        ),
        (
            json!({"type":"auth_ok","id":1,"user":{"id":USER,"username":"alice","role":"user"},"expires_at":T,"heartbeat_ms":null}),
            json!({"type":"auth_ok","id":1,"user":{"id":USER,"username":"alice","role":"user"},"expires_at":T,"heartbeat_ms":25000}),
        ),
    ] {
        let read = decode_server(&frame.to_string()).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), expected);
    }
}

/// The client reads server frames with a reader of its own (no serde tag buffering): it
/// refuses what is wrong, and says what.
#[test]
fn the_server_frame_reader_refuses_broken_frames() {
    for text in [
        r#"{"type":"event","topic":"tasks","epoch":"e","seq":1,"op":"patch","id":"0b2f4e6a-8c1d-4e3f-9a5b-7c9d1e2f3a4b","fields":{}}"#,
        r#"{"type":"event","topic":"tasks","epoch":"e","seq":1,"op":"upsert"}"#,
        r#"{"type":"event","topic":"tasks","epoch":"e","seq":1,"op":"explode","id":"0b2f4e6a-8c1d-4e3f-9a5b-7c9d1e2f3a4b"}"#,
        r#"{"type":"result","id":1}"#,
        r#"{"type":"result","id":1,"ok":null}"#,
        r#"{"type":"result","id":1,"ok":null,"error":{"code":"not_found","message":"m"}}"#,
        r#"{"type":"result","id":1,"ok":{"task":{"id":"x"}}}"#,
        r#"{"type":"snapshot","id":2,"topic":"tasks","epoch":"e","seq":1,"items":[{"id":"x"}]}"#,
        // Tasks where boards belong, and the other way round.
        r#"{"type":"snapshot","id":2,"topic":"boards","epoch":"e","seq":1,"items":[{"id":"0b2f4e6a-8c1d-4e3f-9a5b-7c9d1e2f3a4b","title":"t","done":false,"version":1,"created_at":"t","updated_at":"t"}]}"#,
        r#"{"type":"event","topic":"board:0b2f4e6a-8c1d-4e3f-9a5b-7c9d1e2f3a4b","epoch":"e","seq":1,"op":"upsert","item":{"id":"0b2f4e6a-8c1d-4e3f-9a5b-7c9d1e2f3a4b","name":"n","role":"owner","personal":false}}"#,
        r#"{"type":"replay","id":2,"topic":"boards","epoch":"e","seq":1,"events":[]}"#,
        r#"{"type":"unsubscribed","topic":"board:0b2f4e6a-8c1d-4e3f-9a5b-7c9d1e2f3a4b","reason":"bored"}"#,
        r#"{"type":"presence","topic":"board:0b2f4e6a-8c1d-4e3f-9a5b-7c9d1e2f3a4b"}"#,
    ] {
        let error = decode_server(text).unwrap_err();
        assert!(
            matches!(
                error.kind,
                DecodeErrorKind::MissingField(_) | DecodeErrorKind::Invalid(_)
            ),
            "{text}: {error:?}"
        );
    }
    // Stricter than serde's derived decoder, which takes whichever key comes first.
    let both = r#"{"type":"result","id":1,"ok":{},"error":{"code":"not_found","message":"m"}}"#;
    assert!(matches!(
        decode_server(both).unwrap_err().kind,
        DecodeErrorKind::Invalid(_)
    ));
    let error = decode_server(r#"{"type":"event","topic":"tasks","epoch":"e","seq":1,"op":"patch","id":"0b2f4e6a-8c1d-4e3f-9a5b-7c9d1e2f3a4b","fields":{}}"#).unwrap_err();
    assert_eq!(error.kind, DecodeErrorKind::MissingField("version".into()));
    assert_eq!(
        decode_server(r#"{"type":"shout","id":9}"#).unwrap_err(),
        taskwire_protocol::DecodeError {
            id: Some(9),
            kind: DecodeErrorKind::UnknownType("shout".into())
        }
    );
}

#[test]
fn every_frame_type_is_known_to_the_decoder() {
    let kinds = |examples: Vec<Value>| -> Vec<String> {
        let mut kinds: Vec<String> = examples
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    };
    let sorted = |types: &[&str]| {
        let mut t: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        t.sort();
        t
    };
    assert_eq!(kinds(client_examples()), sorted(ClientFrame::TYPES));
    assert_eq!(kinds(server_examples()), sorted(ServerFrame::TYPES));
}

#[test]
fn a_frame_over_64_kib_is_refused_before_it_is_parsed() {
    let title = "x".repeat(MAX_FRAME_BYTES);
    let text = json!({"type":"request","id":1,"method":"task.create","params":{"title":title}})
        .to_string();
    let error = decode_client(&text).unwrap_err();
    assert_eq!(
        error.kind,
        DecodeErrorKind::TooLarge {
            len: text.len(),
            limit: MAX_FRAME_BYTES
        }
    );
}

#[test]
fn a_snapshot_of_thousands_of_tasks_is_one_frame_the_client_reads() {
    let items: Vec<Value> = (0..2_000u128)
        .map(|n| {
            let id = format!("00000000-0000-4000-8000-{n:012x}");
            json!({"id":id,"title":format!("Task number {n}"),"done":n % 2 == 0,"version":1,"created_at":T,"updated_at":T,"updated_by":"maya"})
        })
        .collect();
    let text = json!({"type":"snapshot","id":2,"topic":"tasks","epoch":"e1","seq":9,"items":items})
        .to_string();
    assert!(text.len() > MAX_FRAME_BYTES);
    match decode_server(&text) {
        Ok(ServerFrame::Snapshot { items, .. }) => assert_eq!(items.len(), 2_000),
        other => panic!("expected a snapshot, got {other:?}"),
    }
    let too_big = "x".repeat(MAX_SERVER_FRAME_BYTES + 1);
    assert!(matches!(
        decode_server(&too_big).unwrap_err().kind,
        DecodeErrorKind::TooLarge { .. }
    ));
}

#[test]
fn bad_input_gives_a_typed_error_and_the_request_id_when_readable() {
    type Case = (&'static str, fn(&DecodeErrorKind) -> bool, Option<u64>);
    let cases: [Case; 13] = [
        (
            "{\"type\":\"ping\",",
            |k| matches!(k, DecodeErrorKind::BadJson(_)),
            None,
        ),
        (
            "not json",
            |k| matches!(k, DecodeErrorKind::BadJson(_)),
            None,
        ),
        ("[1,2]", |k| *k == DecodeErrorKind::NotAnObject, None),
        (
            "{\"id\":1}",
            |k| *k == DecodeErrorKind::MissingType,
            Some(1),
        ),
        (
            "{\"type\":\"shout\",\"id\":2}",
            |k| *k == DecodeErrorKind::UnknownType("shout".into()),
            Some(2),
        ),
        (
            "{\"type\":5,\"id\":6}",
            |k| *k == DecodeErrorKind::MissingType,
            Some(6),
        ),
        (
            "{\"type\":\"shout\",\"id\":\"7\"}",
            |k| *k == DecodeErrorKind::UnknownType("shout".into()),
            None,
        ),
        (
            "{\"type\":\"shout\",\"id\":-8}",
            |k| *k == DecodeErrorKind::UnknownType("shout".into()),
            None,
        ),
        (
            "{\"params\":{\"a\":[1,{\"b\":null},2.5,true]},\"id\":9,\"type\":\"shout\"}",
            |k| *k == DecodeErrorKind::UnknownType("shout".into()),
            Some(9),
        ),
        (
            "{\"type\":\"ping\"}",
            |k| *k == DecodeErrorKind::MissingField("id".into()),
            None,
        ),
        (
            "{\"type\":\"auth\",\"id\":3}",
            |k| *k == DecodeErrorKind::MissingField("token".into()),
            Some(3),
        ),
        (
            "{\"type\":\"request\",\"id\":4,\"method\":\"task.explode\",\"params\":{}}",
            |k| matches!(k, DecodeErrorKind::Invalid(_)),
            Some(4),
        ),
        (
            "{\"type\":\"request\",\"id\":5,\"method\":\"task.update\",\"params\":{\"id\":\"not-a-uuid\"}}",
            |k| matches!(k, DecodeErrorKind::Invalid(_)),
            Some(5),
        ),
    ];
    for (text, is_expected, id) in cases {
        let error = decode_client(text).unwrap_err();
        assert!(is_expected(&error.kind), "{text}: got {:?}", error.kind);
        assert_eq!(error.id, id, "{text}");
    }
    let error = decode_server("{\"type\":\"event\",\"topic\":\"tasks\",\"epoch\":\"e\",\"seq\":1}")
        .unwrap_err();
    assert!(
        matches!(
            error.kind,
            DecodeErrorKind::MissingField(_) | DecodeErrorKind::Invalid(_)
        ),
        "{error:?}"
    );
}

#[test]
fn the_http_patch_body_has_no_id_and_only_the_fields_sent() {
    use taskwire_protocol::TaskPatch;
    let patch: TaskPatch = serde_json::from_value(json!({"done": true})).unwrap();
    assert_eq!(
        patch,
        TaskPatch {
            title: None,
            done: Some(true),
            if_version: None,
        }
    );
    assert_eq!(serde_json::to_value(&patch).unwrap(), json!({"done": true}));
    let empty: TaskPatch = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty, TaskPatch::default());
    assert!(serde_json::from_value::<TaskPatch>(json!({"done": "yes"})).is_err());
}

#[test]
fn a_conflict_carries_the_task_as_it_is_now() {
    let body = json!({"error":{"code":"conflict","message":"bob changed this task.","current":
        {"id":ID,"title":"Theirs","done":false,"version":3,"created_at":T,"updated_at":T,"updated_by":"bob"}}});
    let parsed: taskwire_protocol::ErrorBody = serde_json::from_value(body.clone()).unwrap();
    let current = parsed.error.current.as_deref().unwrap();
    assert_eq!((current.title.as_str(), current.version), ("Theirs", 3));
    assert_eq!(current.updated_by, "bob");
    assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
    // Any other error has no `current` on the wire.
    let plain =
        taskwire_protocol::ApiError::new(taskwire_protocol::ErrorCode::NotFound, "No such task.");
    assert_eq!(
        serde_json::to_value(&plain).unwrap(),
        json!({"code":"not_found","message":"No such task."})
    );
}

#[test]
fn an_update_may_name_the_version_it_was_made_against() {
    let frame = json!({"type":"request","id":7,"method":"task.update","params":{"id":ID,"title":"Mine","if_version":2}});
    let parsed: ClientFrame = serde_json::from_value(frame.clone()).unwrap();
    match &parsed {
        ClientFrame::Request {
            call: taskwire_protocol::MethodCall::Update(params),
            ..
        } => {
            assert_eq!(params.if_version, Some(2));
        }
        other => panic!("not an update: {other:?}"),
    }
    assert_eq!(serde_json::to_value(&parsed).unwrap(), frame);
}

#[test]
fn boards_and_members_are_as_section_4_writes_them() {
    use taskwire_protocol::{Board, BoardList, BoardRole, Member, MemberRole};
    let list = json!({"epoch": "e1", "seq": 3, "items": [
        {"id": ID, "name": "My tasks", "role": "owner", "personal": true}]});
    let parsed: BoardList = serde_json::from_value(list.clone()).unwrap();
    assert_eq!(parsed.items[0].role, BoardRole::Owner);
    assert_eq!(serde_json::to_value(&parsed).unwrap(), list);
    let member = json!({"user": {"id": ID, "username": "bob"}, "role": "viewer"});
    let parsed: Member = serde_json::from_value(member.clone()).unwrap();
    assert_eq!(
        (parsed.user.username.as_str(), parsed.role),
        ("bob", BoardRole::Viewer)
    );
    assert_eq!(serde_json::to_value(&parsed).unwrap(), member);
    // Roles are the three the contract names, and nothing else.
    assert!(serde_json::from_value::<MemberRole>(json!({"role": "admin"})).is_err());
    assert!(
        serde_json::from_value::<Board>(json!({"id": ID, "name": "x", "role": "owner"})).is_err()
    );
}

#[test]
fn a_topic_is_tasks_boards_or_a_board_id() {
    let spellings = [
        format!("board:{{{BOARD}}}"),
        format!("board:urn:uuid:{BOARD}"),
        format!("board:{}", BOARD.to_uppercase()),
        format!("board:{}", BOARD.replace('-', "")),
    ];
    let names = ["board:nope", "board:", "Boards", "tasks "];
    for topic in names.iter().map(|name| name.to_string()).chain(spellings) {
        let text = json!({"type":"subscribe","id":1,"topic":topic}).to_string();
        let error = decode_client(&text).unwrap_err();
        assert_eq!(error.id, Some(1), "{topic}");
        assert!(
            error.to_string().contains("unknown topic"),
            "{topic}: {error}"
        );
    }
    let text = json!({"type":"subscribe","id":1,"topic":format!("board:{BOARD}")}).to_string();
    assert!(matches!(
        decode_client(&text),
        Ok(ClientFrame::Subscribe { topic: taskwire_protocol::Topic::Board(id), .. })
            if id.to_string() == BOARD
    ));
}

/// The fallback's `GET /api/changes` answers, as the server writes them, read back by
/// the app's reader: events of a board, its snapshot, the board list whole or unmoved.
#[test]
fn every_changes_answer_reads_back_as_written() {
    let task = json!({
        "id": "6f1f1c9e-0000-4000-8000-000000000001", "title": "Ship", "done": false,
        "version": 1, "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z", "updated_by": "maya"
    });
    let board = json!({
        "id": "6f1f1c9e-0000-4000-8000-000000000002", "name": "My tasks",
        "role": "owner", "personal": true
    });
    let answers = [
        json!({"topic": "tasks", "epoch": "e1", "seq": 3, "events": [
            {"topic": "tasks", "epoch": "e1", "seq": 2, "op": "upsert", "item": task},
            {"topic": "tasks", "epoch": "e1", "seq": 3, "op": "delete",
             "id": "6f1f1c9e-0000-4000-8000-000000000001"}
        ]}),
        json!({"topic": "tasks", "epoch": "e1", "seq": 0, "events": []}),
        json!({"topic": "board:6f1f1c9e-0000-4000-8000-000000000002", "epoch": "e1", "seq": 9,
               "snapshot": {"items": [task]}}),
        json!({"topic": "boards", "epoch": "e1", "seq": 4, "snapshot": {"items": [board]}}),
        json!({"topic": "boards", "epoch": "e1", "seq": 4, "events": []}),
    ];
    for answer in answers {
        let read = taskwire_protocol::read_changes(&answer.to_string()).expect("read");
        assert_eq!(serde_json::to_value(&read).expect("written"), answer);
    }
    for broken in [
        json!({"topic": "tasks", "epoch": "e1", "seq": 1}),
        json!({"topic": "tasks", "epoch": "e1", "seq": 1, "events": [], "snapshot": {"items": []}}),
        json!({"topic": "boards", "epoch": "e1", "seq": 1, "events": [{"op": "upsert"}]}),
        json!({"topic": "tasks", "epoch": "e1", "seq": 1, "events": [{"op": "patch"}]}),
        json!({"topic": "nope", "epoch": "e1", "seq": 1, "events": []}),
    ] {
        assert!(
            taskwire_protocol::read_changes(&broken.to_string()).is_err(),
            "{broken}"
        );
    }
}
