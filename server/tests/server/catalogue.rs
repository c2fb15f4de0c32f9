//! The hostile catalogue (issue 17): what an attacker or a broken client sends over HTTP
//! and the socket, each case with the answer the contract or server/README.md
//! documents. docs/hostile.md lists every case: these, and those other tests prove.
//!
//! Most groups are tables: a case is a name (starting with its number in
//! docs/hostile.md), a request and its answer, and a failure names its case.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Sha256, Sha512};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use uuid::Uuid;

use crate::support::{Closed, TestServer, WAIT, raw_http};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

const SECRET: &str = "the catalogue's secret, long enough";

/// A hostile HTTP request and its documented answer.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    /// Content type (if any) and bytes.
    body: Option<(Option<&'static str>, Vec<u8>)>,
    answer: Option<Answer>,
}

enum Answer {
    /// The contract's error body, with this status and code.
    Error(u16, &'static str),
    /// This success status; what the body holds is checked by the test.
    Success(u16),
}

fn case(name: &'static str, method: Method, path: impl Into<String>) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        headers: Vec::new(),
        body: None,
        answer: None,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    fn cookie(self, value: &str) -> Self {
        self.header("cookie", format!("taskwire_refresh={value}"))
    }

    fn json(self, body: Value) -> Self {
        self.body(Some("application/json"), body.to_string())
    }

    fn body(mut self, content_type: Option<&'static str>, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type, bytes.into()));
        self
    }

    fn refused(mut self, status: u16, code: &'static str) -> Self {
        self.answer = Some(Answer::Error(status, code));
        self
    }

    fn answered(mut self, status: u16) -> Self {
        self.answer = Some(Answer::Success(status));
        self
    }
}

/// The bodies of a table's answers (JSON, else null), by case name.
struct Answers(Vec<(&'static str, Value)>);

impl std::ops::Index<&str> for Answers {
    type Output = Value;

    fn index(&self, name: &str) -> &Value {
        self.0
            .iter()
            .find(|(case, _)| *case == name)
            .map(|(_, body)| body)
            .unwrap_or_else(|| panic!("no case {name}"))
    }
}

/// Sends every case and asserts its answer; returns the bodies, for the checks that
/// follow.
async fn run(server: &TestServer, cases: Vec<Case>) -> Answers {
    let http = reqwest::Client::new();
    let mut bodies = Vec::with_capacity(cases.len());
    for case in cases {
        let name = case.name;
        let mut request = http.request(case.method, server.url(&case.path));
        for (header, value) in case.headers {
            request = request.header(header, value);
        }
        if let Some((content_type, bytes)) = case.body {
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            request = request.body(bytes);
        }
        let response = request.send().await.expect("an answer");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match case.answer.expect("every case says its answer") {
            Answer::Error(expected, code) => {
                assert_eq!(status, expected, "{name}: {body}");
                assert_eq!(body["error"]["code"], code, "{name}: {body}");
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .is_some_and(|message| !message.is_empty()),
                    "{name}: {body}"
                );
            }
            Answer::Success(expected) => assert_eq!(status, expected, "{name}: {body}"),
        }
        bodies.push((name, body));
    }
    Answers(bodies)
}

/// Opens a socket and sends `frame` first: the documented answer is `error`
/// (`unauthorized`) and close 4401.
async fn refused_first_frame(server: &TestServer, name: &str, frame: Value) {
    let mut ws = server.connect(true).await;
    ws.send(frame).await;
    let (closed, frames) = ws.closed().await;
    assert_eq!(closed, Closed::Code(4401), "{name}: {frames:?}");
    assert_eq!(frames.len(), 1, "{name}: {frames:?}");
    assert_eq!(
        (&frames[0]["type"], &frames[0]["code"]),
        (&json!("error"), &json!("unauthorized")),
        "{name}"
    );
}

/// A JWT of `alg` over `claims`, its signature made by `sign`.
fn jwt(alg: &str, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(sign(signed.as_bytes()));
    format!("{signed}.{signature}")
}

fn hs256(message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hs512(message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha512>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn tokens() {
    let server = TestServer::start_with(|args| args.jwt_secret = Some(SECRET.into())).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let claims = claims_of(&alice.token);
    // The control: signed here with the server's algorithm and key, the claims pass, so
    // each forgery below fails for what it changes.
    run(
        &server,
        vec![
            case("control", GET, "/api/me")
                .bearer(&jwt("HS256", &claims, hs256))
                .answered(200),
        ],
    )
    .await;

    let elsewhere = TestServer::start().await;
    let other_server = elsewhere.register("alice").await.token;
    let mut to_bob = claims.clone();
    to_bob["sub"] = bob.body["user"]["id"].clone();
    let (head, _) = alice.token.split_once('.').unwrap();
    let (_, signature) = alice.token.rsplit_once('.').unwrap();
    let payload = URL_SAFE_NO_PAD.encode(to_bob.to_string());
    let retargeted = format!("{head}.{payload}.{signature}");
    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");

    let refused: [(&'static str, String); 6] = [
        ("T6 a fourth segment", format!("{}.e30", alice.token)),
        ("T7 payload changed, signature kept", retargeted),
        (
            "T10 HS512 with the server's own secret",
            jwt("HS512", &claims, hs512),
        ),
        ("T12 no exp claim", jwt("HS256", &no_exp, hs256)),
        ("T13 a token of another Taskwire server", other_server),
        (
            "T16 the refresh cookie as a Bearer token",
            alice.cookie.clone(),
        ),
    ];
    let mut cases = vec![
        case("T1 no Authorization header", GET, "/api/me").refused(401, "unauthorized"),
        case("T2 Basic instead of Bearer", GET, "/api/me")
            .header("authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==")
            .refused(401, "unauthorized"),
        case("T3 Bearer with no token", GET, "/api/me")
            .header("authorization", "Bearer")
            .refused(401, "unauthorized"),
        case(
            "T4 the token in the query string",
            GET,
            format!("/api/me?token={0}&access_token={0}", alice.token),
        )
        .refused(401, "unauthorized"),
    ];
    for (name, token) in &refused {
        cases.push(
            case(name, GET, "/api/me")
                .bearer(token)
                .refused(401, "unauthorized"),
        );
    }
    run(&server, cases).await;
    for (name, token) in &refused {
        refused_first_frame(
            &server,
            name,
            json!({"type": "auth", "id": 1, "token": token}),
        )
        .await;
    }
    refused_first_frame(
        &server,
        "T18 auth without a token",
        json!({"type": "auth", "id": 1}),
    )
    .await;
    refused_first_frame(
        &server,
        "T19 auth with a number for a token",
        json!({"type": "auth", "id": 1, "token": 12}),
    )
    .await;
    // None of it touched the real session.
    run(
        &server,
        vec![
            case("control", GET, "/api/me")
                .bearer(&alice.token)
                .answered(200),
        ],
    )
    .await;
}

#[tokio::test]
async fn sessions() {
    const ACTING: &str = "setup: an admin acts as someone";
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let root = server.register("root").await;
    server.register("bob").await;
    server.register("ops").await;
    for admin in ["root", "ops"] {
        assert_eq!(
            taskwire_server::admin::promote(&server.db(), admin).await,
            Ok(true)
        );
    }
    let login_as = |name: &'static str, token: &str, username: &str| {
        case(name, POST, "/api/login-as")
            .bearer(token)
            .json(json!({ "username": username }))
    };
    // Acting as another admin gives no admin powers either.
    let acting = run(
        &server,
        vec![login_as(ACTING, &root.token, "ops").answered(200)],
    )
    .await;
    let acting = acting[ACTING]["token"].as_str().unwrap().to_owned();
    run(
        &server,
        vec![
            case(
                "S4 the access token as the refresh cookie",
                POST,
                "/api/refresh",
            )
            .cookie(&alice.token)
            .refused(401, "unauthorized"),
            case("S3 an empty refresh cookie", POST, "/api/refresh")
                .cookie("")
                .refused(401, "unauthorized"),
            login_as(
                "S12 an acting session (as an admin) starts another login-as",
                &acting,
                "alice",
            )
            .refused(403, "forbidden"),
            case(
                "S13 an acting session (as an admin) lists the users",
                GET,
                "/api/admin/users",
            )
            .bearer(&acting)
            .refused(403, "forbidden"),
            login_as("S14 an admin acts as themselves", &root.token, "root")
                .refused(400, "bad_request"),
        ],
    )
    .await;

    // The admin signs out while acting: leaving the acting session finds no session to
    // return to, and ends the acting one anyway.
    let second = server.login("root").await;
    let acting = run(
        &server,
        vec![login_as(ACTING, &second.token, "bob").answered(200)],
    )
    .await;
    let acting = acting[ACTING]["token"].as_str().unwrap().to_owned();
    run(
        &server,
        vec![
            case("setup: root signs out", POST, "/api/logout")
                .bearer(&second.token)
                .answered(204),
            case(
                "S17 login-as exit after the admin's session ended",
                POST,
                "/api/login-as/exit",
            )
            .bearer(&acting)
            .refused(401, "unauthorized"),
            case("S17 the acting session is over too", GET, "/api/me")
                .bearer(&acting)
                .refused(401, "unauthorized"),
        ],
    )
    .await;

    // Logout-all of an admin also ends the sessions in which they act as someone.
    let acting = run(
        &server,
        vec![login_as(ACTING, &root.token, "alice").answered(200)],
    )
    .await;
    let acting = acting[ACTING]["token"].as_str().unwrap().to_owned();
    let mut ws = server.socket(&acting).await;
    run(
        &server,
        vec![
            case("setup: root signs out everywhere", POST, "/api/logout-all")
                .bearer(&root.token)
                .answered(204),
            case(
                "S18 an acting session after the admin's logout-all",
                GET,
                "/api/me",
            )
            .bearer(&acting)
            .refused(401, "unauthorized"),
            case("S18 alice's own session is untouched", GET, "/api/me")
                .bearer(&alice.token)
                .answered(200),
        ],
    )
    .await;
    ws.expect_close(4409).await;
}

#[tokio::test]
async fn input() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let token = alice.token.as_str();
    let task = run(
        &server,
        vec![
            case("setup: a task", POST, "/api/tasks")
                .bearer(token)
                .json(json!({"title": "Mine"}))
                .answered(201),
            case("setup: a board", POST, "/api/boards")
                .bearer(token)
                .json(json!({"name": "Shared"}))
                .answered(201),
        ],
    )
    .await;
    let shared = task["setup: a board"]["id"].as_str().unwrap().to_owned();
    let task = &task["setup: a task"];
    let task_path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let board = alice.body["user"]["id"].as_str().unwrap();
    let create = |name| case(name, POST, "/api/tasks").bearer(token);
    let title = |name, title: String| create(name).json(json!({ "title": title }));
    let register = |name, username: &str, password: &str| {
        case(name, POST, "/api/register").json(json!({"username": username, "password": password}))
    };
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));

    let bodies = run(
        &server,
        vec![
            // Bodies.
            create("I5 a JSON body without Content-Type")
                .body(None, r#"{"title":"x"}"#)
                .refused(400, "bad_request"),
            create("I6 a missing title")
                .json(json!({}))
                .refused(400, "bad_request"),
            create("I7 a null title")
                .json(json!({"title": null}))
                .refused(400, "bad_request"),
            create("I8 a duplicate key")
                .body(Some("application/json"), r#"{"title":"a","title":"b"}"#)
                .refused(400, "bad_request"),
            create("I9 JSON nested 10,000 deep")
                .body(Some("application/json"), format!(r#"{{"title":{nested}}}"#))
                .refused(400, "bad_request"),
            create("I10 bytes that are not UTF-8")
                .body(
                    Some("application/json"),
                    b"{\"title\":\"\xff\xfe\"}".to_vec(),
                )
                .refused(400, "bad_request"),
            create("I11 a lone surrogate escape")
                .body(Some("application/json"), r#"{"title":"\ud800"}"#)
                .refused(400, "bad_request"),
            create("I12 an id that is not a UUID")
                .json(json!({"id": "nope", "title": "x"}))
                .refused(400, "bad_request"),
            case("I13 done as a string", PATCH, &task_path)
                .bearer(token)
                .json(json!({"done": "yes"}))
                .refused(400, "bad_request"),
            case("I14 a negative if_version", PATCH, &task_path)
                .bearer(token)
                .json(json!({"done": true, "if_version": -1}))
                .refused(400, "bad_request"),
            // Titles.
            title("I16 only Unicode spaces", "\u{3000}\u{a0}\u{2003}".into())
                .refused(400, "bad_request"),
            title("I17 201 two-byte characters", "é".repeat(201)).refused(400, "bad_request"),
            title("I18 a C1 control character", "a\u{9b}31mb".into()).refused(400, "bad_request"),
            title("I19 200 four-byte characters", "😀".repeat(200)).answered(201),
            title(
                "I20 bidi override and zero-width joiner",
                "\u{202e}txt.exe\u{200d}".into(),
            )
            .answered(201),
            // Fields that are the server's to set.
            create("I22 server-owned fields in a create")
                .json(json!({"title": "Plain", "done": true, "version": 99,
                    "updated_by": "mallory", "created_at": "1970-01-01T00:00:00Z"}))
                .answered(201),
            case("I23 a role in a registration", POST, "/api/register")
                .json(json!({"username": "mallory", "password": "correct horse",
                    "role": "admin", "acting_as_admin": "root"}))
                .answered(201),
            case(
                "I24 server-owned fields in a new board",
                POST,
                "/api/boards",
            )
            .bearer(token)
            .json(json!({"name": "Team", "role": "viewer", "personal": true}))
            .answered(201),
            // Usernames and passwords.
            register(
                "I26 a username of 33 characters",
                &"a".repeat(33),
                "correct horse",
            )
            .refused(400, "bad_request"),
            register("I27 an empty username", "", "correct horse").refused(400, "bad_request"),
            register(
                "I28 a look-alike username (Cyrillic а)",
                "\u{430}lice",
                "correct horse",
            )
            .refused(400, "bad_request"),
            register(
                "I29 a username with path and SQL",
                "../a'--",
                "correct horse",
            )
            .refused(400, "bad_request"),
            register(
                "I32 a password of 129 characters",
                "carol",
                &"x".repeat(129),
            )
            .refused(400, "bad_request"),
            register(
                "I31 a password of 7 two-byte characters",
                "carol",
                &"é".repeat(7),
            )
            .refused(400, "bad_request"),
            register(
                "I33 a password of 128 two-byte characters",
                "carol",
                &"é".repeat(128),
            )
            .answered(201),
            // Ids and queries.
            case(
                "I35 a task id with SQL in it",
                DELETE,
                "/api/tasks/1'%20OR%20'1'='1",
            )
            .bearer(token)
            .refused(400, "bad_request"),
            case(
                "I36 a board's task id that is not a UUID",
                PATCH,
                format!("/api/boards/{board}/tasks/x"),
            )
            .bearer(token)
            .json(json!({"done": true}))
            .refused(400, "bad_request"),
            case(
                "I38 a share role that does not exist",
                PUT,
                format!("/api/boards/{}/members/mallory", Uuid::new_v4()),
            )
            .bearer(token)
            .json(json!({"role": "superuser"}))
            .refused(400, "bad_request"),
            case(
                "I50 a NUL byte in a username at sign-in",
                POST,
                "/api/login",
            )
            .json(json!({"username": "ali\u{0}ce", "password": "correct horse"}))
            .refused(401, "unauthorized"),
            case(
                "I51 a NUL byte in a member's name",
                PUT,
                format!("/api/boards/{shared}/members/ali%00ce"),
            )
            .bearer(token)
            .json(json!({"role": "viewer"}))
            .refused(404, "not_found"),
            case(
                "I41 a long poll's wait past u64",
                GET,
                "/api/changes?topic=tasks&wait=99999999999999999999999",
            )
            .bearer(token)
            .refused(400, "bad_request"),
            case(
                "I42 a board topic that is not a UUID",
                GET,
                "/api/changes?topic=board:nope",
            )
            .bearer(token)
            .refused(400, "bad_request"),
        ],
    )
    .await;
    let body = |name: &str| &bodies[name];
    assert_eq!(
        body("I19 200 four-byte characters")["title"],
        "😀".repeat(200)
    );
    assert_eq!(
        body("I20 bidi override and zero-width joiner")["title"],
        "\u{202e}txt.exe\u{200d}"
    );
    let plain = body("I22 server-owned fields in a create");
    assert_eq!(
        (&plain["done"], &plain["version"], &plain["updated_by"]),
        (&json!(false), &json!(1), &json!("alice"))
    );
    assert_ne!(plain["created_at"], "1970-01-01T00:00:00Z");
    let user = &body("I23 a role in a registration")["user"];
    assert_eq!(user["role"], "user", "{user}");
    assert!(user.get("acting_as_admin").is_none(), "{user}");
    let team = body("I24 server-owned fields in a new board");
    assert_eq!(
        (&team["role"], &team["personal"]),
        (&json!("owner"), &json!(false))
    );

    // Nothing refused was stored.
    let list = server.client().get("/api/tasks", Some(token)).await;
    let list: Value = list.json().await.unwrap();
    let titles: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 4, "{titles:?}");
    assert_eq!(list["items"][0], *task, "the patches changed nothing");
}

#[tokio::test]
async fn other_peoples_data() {
    let server = TestServer::start().await;
    let olga = server.register("olga").await.token;
    let eddie = server.register("eddie").await.token;
    let vic = server.register("vic").await.token;
    let mallory = server.register("mallory").await.token;
    let (launch, mine) = (Uuid::new_v4(), Uuid::new_v4());
    let setup = run(
        &server,
        vec![
            case("setup: olga's board", POST, "/api/boards")
                .bearer(&olga)
                .json(json!({"id": launch, "name": "Launch"}))
                .answered(201),
            case(
                "setup: a task on it",
                POST,
                format!("/api/boards/{launch}/tasks"),
            )
            .bearer(&olga)
            .json(json!({"title": "Ship"}))
            .answered(201),
            case(
                "setup: eddie edits",
                PUT,
                format!("/api/boards/{launch}/members/eddie"),
            )
            .bearer(&olga)
            .json(json!({"role": "editor"}))
            .answered(200),
            case(
                "setup: vic views",
                PUT,
                format!("/api/boards/{launch}/members/vic"),
            )
            .bearer(&olga)
            .json(json!({"role": "viewer"}))
            .answered(200),
            case("setup: mallory's own board", POST, "/api/boards")
                .bearer(&mallory)
                .json(json!({"id": mine, "name": "Mine"}))
                .answered(201),
        ],
    )
    .await;
    let task = setup["setup: a task on it"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = server
        .client()
        .get(&format!("/api/boards/{launch}/tasks"), Some(&olga))
        .await
        .text()
        .await
        .unwrap();

    // Every call on olga's board from a stranger, and the same call on a board that does
    // not exist: both `not_found`, word for word.
    let stranger_calls = |board: Uuid| {
        let on = |name, method, path: &str| {
            case(name, method, format!("/api/boards/{board}{path}"))
                .bearer(&mallory)
                .refused(404, "not_found")
        };
        vec![
            on("A1 a stranger reads the tasks", GET, "/tasks"),
            on("A2 a stranger reads the members", GET, "/members"),
            on("A3 a stranger renames the board", PATCH, "").json(json!({"name": "Mine"})),
            on("A4 a stranger deletes the board", DELETE, ""),
            on("A5 a stranger adds a task", POST, "/tasks").json(json!({"title": "Hi"})),
            on(
                "A6 a stranger edits a task",
                PATCH,
                &format!("/tasks/{task}"),
            )
            .json(json!({"done": true})),
            on(
                "A7 a stranger deletes a task",
                DELETE,
                &format!("/tasks/{task}"),
            ),
            on("A8 a stranger clears done tasks", POST, "/tasks/clear-done"),
            on(
                "A9 a stranger shares the board with himself",
                PUT,
                "/members/mallory",
            )
            .json(json!({"role": "editor"})),
            on("A10 a stranger removes the owner", DELETE, "/members/olga"),
            case(
                "A11 a stranger long-polls the board",
                GET,
                format!("/api/changes?topic=board:{board}"),
            )
            .bearer(&mallory)
            .refused(404, "not_found"),
        ]
    };
    let real = run(&server, stranger_calls(launch)).await;
    let none = run(&server, stranger_calls(Uuid::new_v4())).await;
    for ((name, real), (_, none)) in real.0.iter().zip(&none.0) {
        assert_eq!(real, none, "{name}: the board's existence leaks");
    }

    let board = |path: &str| format!("/api/boards/{launch}{path}");
    run(
        &server,
        vec![
            case(
                "A13 olga's task through mallory's own board",
                PATCH,
                format!("/api/boards/{mine}/tasks/{task}"),
            )
            .bearer(&mallory)
            .json(json!({"title": "Mine now"}))
            .refused(404, "not_found"),
            case(
                "A14 olga's task through mallory's personal list",
                DELETE,
                format!("/api/tasks/{task}"),
            )
            .bearer(&mallory)
            .refused(404, "not_found"),
            case("A18 an editor deletes the board", DELETE, board(""))
                .bearer(&eddie)
                .refused(403, "forbidden"),
            case(
                "A19 an editor removes another member",
                DELETE,
                board("/members/vic"),
            )
            .bearer(&eddie)
            .refused(403, "forbidden"),
            case(
                "A19 an editor removes a name nobody has",
                DELETE,
                board("/members/nobody-at-all"),
            )
            .bearer(&eddie)
            .refused(403, "forbidden"),
            case(
                "A21 a viewer raises their own role",
                PUT,
                board("/members/vic"),
            )
            .bearer(&vic)
            .json(json!({"role": "editor"}))
            .refused(403, "forbidden"),
            case(
                "A22 a viewer clears done tasks",
                POST,
                board("/tasks/clear-done"),
            )
            .bearer(&vic)
            .refused(403, "forbidden"),
        ],
    )
    .await;
    let after = server
        .client()
        .get(&format!("/api/boards/{launch}/tasks"), Some(&olga))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(after, before, "the board is as it was");
}

/// The `/ws` handshake's status with `origin` (101 when the socket opens).
async fn handshake_with_origin(addr: SocketAddr, origin: &str) -> u16 {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(error) => panic!("{origin}: {error}"),
    }
}

#[tokio::test]
async fn origins() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let port = server.addr.port();
    let own = server.origin();
    let foreign = "https://evil.example";
    let refresh = |name, origin: String| {
        case(name, POST, "/api/refresh")
            .header("origin", origin)
            .cookie(&alice.cookie)
            .refused(403, "forbidden")
    };
    run(
        &server,
        vec![
            case("O1 a foreign origin with a Bearer token", GET, "/api/me")
                .header("origin", foreign)
                .bearer(&alice.token)
                .refused(403, "forbidden"),
            case(
                "O2 a foreign origin signs the user out",
                POST,
                "/api/logout",
            )
            .header("origin", foreign)
            .cookie(&alice.cookie)
            .refused(403, "forbidden"),
            case(
                "O3 a foreign origin long-polls",
                GET,
                "/api/changes?topic=tasks",
            )
            .header("origin", foreign)
            .bearer(&alice.token)
            .refused(403, "forbidden"),
            refresh(
                "O6 own host over https",
                format!("https://127.0.0.1:{port}"),
            ),
            refresh(
                "O7 own host on another port",
                format!("http://127.0.0.1:{}", port.wrapping_add(1)),
            ),
            refresh("O8 own origin as a prefix", format!("{own}.evil.example")),
            refresh("O9 own origin as user info", format!("{own}@evil.example")),
            refresh("O10 own origin with a path", format!("{own}/")),
        ],
    )
    .await;
    // The refusals left the session alone; the allowed origins, or none, may refresh.
    let (first, second) = (server.login("alice").await, server.login("alice").await);
    run(
        &server,
        vec![
            case("O17 own origin, after the refusals", POST, "/api/refresh")
                .header("origin", own.clone())
                .cookie(&alice.cookie)
                .answered(200),
            case(
                "O14 no Origin on a cookie-bearing call",
                POST,
                "/api/refresh",
            )
            .cookie(&first.cookie)
            .answered(200),
            case("O16 localhost on the server's port", POST, "/api/refresh")
                .header("origin", format!("http://localhost:{port}"))
                .cookie(&second.cookie)
                .answered(200),
        ],
    )
    .await;

    for (name, origin, status) in [
        (
            "O11 a foreign page opens the socket",
            foreign.to_owned(),
            403,
        ),
        (
            "O12 a sandboxed page (Origin: null) opens the socket",
            "null".to_owned(),
            403,
        ),
        ("O13 own origin opens the socket", own.clone(), 101),
    ] {
        assert_eq!(
            handshake_with_origin(server.addr, &origin).await,
            status,
            "{name}"
        );
    }

    let preflight = server
        .client()
        .http
        .request(Method::OPTIONS, server.url("/api/tasks"))
        .header("origin", foreign)
        .header("access-control-request-method", "DELETE")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "O18 a foreign preflight is given no CORS grant: {:?}",
        preflight.headers()
    );
}

/// A raw request with `Connection: close`, its body sent as given.
fn raw_request(method: &str, target: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: taskwire\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    request
}

#[tokio::test]
async fn limits() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bearer = format!("Authorization: Bearer {}", alice.token);
    let json = "Content-Type: application/json";

    let mut chunked = Vec::new();
    for _ in 0..9 {
        chunked.extend_from_slice(format!("2000\r\n{}\r\n", "x".repeat(0x2000)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let huge_header = format!("X-Pad: {}", "y".repeat(500 * 1024));
    let big_headers: Vec<String> = (0..10)
        .map(|n| format!("X-Pad-{n}: {}", "z".repeat(10 * 1024)))
        .collect();
    let mut big_headers: Vec<&str> = big_headers.iter().map(String::as_str).collect();
    big_headers.push(&bearer);
    let many_headers: Vec<String> = (0..150).map(|n| format!("X-Pad-{n}: {n}")).collect();
    let many_headers: Vec<&str> = many_headers.iter().map(String::as_str).collect();
    let cases: [(&str, Vec<u8>, u16, Option<&str>); 5] = [
        (
            "L6 a chunked body over 64 KiB, with no length",
            raw_request(
                "POST",
                "/api/tasks",
                &[&bearer, json, "Transfer-Encoding: chunked"],
                &chunked,
            ),
            413,
            Some("payload_too_large"),
        ),
        (
            "L7 a declared 1 GiB body",
            raw_request(
                "POST",
                "/api/tasks",
                &[&bearer, json, "Content-Length: 1073741824"],
                "z".repeat(66 * 1024).as_bytes(),
            ),
            413,
            Some("payload_too_large"),
        ),
        (
            "L8 a 500 KiB header",
            raw_request("GET", "/api/me", &[&bearer, &huge_header], b""),
            431,
            None,
        ),
        (
            "L9 150 headers",
            raw_request("GET", "/api/me", &many_headers, b""),
            431,
            None,
        ),
        (
            "L16 100 KiB of headers",
            raw_request("GET", "/api/me", &big_headers, b""),
            431,
            None,
        ),
    ];
    for (name, request, status, code) in cases {
        let answer = raw_http(server.addr, &request).await;
        assert_eq!(answer.status, status, "{name}: {answer:?}");
        match code {
            Some(code) => {
                let body: Value = serde_json::from_str(&answer.body).expect(name);
                assert_eq!(body["error"]["code"], code, "{name}");
            }
            // Refused before any handler (by hyper, or by the server's bound alike).
            None => assert_eq!(answer.body, "", "{name}"),
        }
    }

    // A text message in 8 KiB fragments, 80 KiB in all: over the limit as a whole.
    let mut ws = server.socket(&alice.token).await;
    let fragments = 10;
    for n in 0..fragments {
        let opcode = if n == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(" ".repeat(8 * 1024), opcode, n == fragments - 1);
        if futures_util::SinkExt::send(&mut ws.stream, Message::Frame(frame))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(
        ws.closed().await.0,
        Closed::Code(1009),
        "L11 a fragmented message"
    );

    // The server carries on.
    let health = server.client().get("/healthz", None).await;
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn static_files() {
    let server = TestServer::start().await;
    let dist = server.args.static_dir.clone();
    std::fs::create_dir_all(dist.join(".git")).unwrap();
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), "<title>the app's page</title>").unwrap();
    std::fs::write(dist.join("app.js"), "the app's script").unwrap();
    for hidden in [".env", ".git/config", "assets/.secret"] {
        std::fs::write(dist.join(hidden), "SECRET").unwrap();
    }
    // A secret lies next to the static directory, one `..` away, as the database file
    // does by default.
    std::fs::write(dist.parent().unwrap().join("beside.txt"), "SECRET").unwrap();
    server.register("alice").await;

    let long_name = "x".repeat(300);
    let long_path = "ab/".repeat(1_500);
    let app = [
        ("F1 dot-dot", "/../beside.txt".to_owned()),
        ("F2 encoded dot-dot", "/%2e%2e/beside.txt".into()),
        (
            "F3 encoded dot-dot and slash",
            "/%2E%2E%2Fbeside.txt".into(),
        ),
        ("F4 encoded backslash", "/..%5cbeside.txt".into()),
        ("F5 raw backslashes", "/assets/..\\..\\beside.txt".into()),
        ("F6 an absolute path", "//etc/passwd".into()),
        ("F7 an encoded absolute path", "/%2fetc%2fpasswd".into()),
        (
            "F8 an absolute-form target",
            "http://evil.example/../beside.txt".into(),
        ),
        ("F9 a NUL byte", "/app.js%00.html".into()),
        ("F10 a hidden file", "/.env".into()),
        ("F11 a hidden folder", "/.git/config".into()),
        ("F12 an encoded hidden file", "/%2eenv".into()),
        (
            "F13 a hidden file behind an encoded slash",
            "/assets%2f.secret".into(),
        ),
        ("F14 a 300-byte file name", format!("/{long_name}")),
        ("F15 a 4.5 KB path", format!("/{long_path}")),
    ];
    for (name, target) in &app {
        let answer = raw_http(server.addr, &raw_request("GET", target, &[], b"")).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "<title>the app's page</title>"),
            "{name}: the app's page, as for any unknown path"
        );
    }
    let api = raw_http(
        server.addr,
        &raw_request("GET", "/api/../../beside.txt", &[], b""),
    )
    .await;
    assert_eq!(api.status, 404, "F16 dot-dot after /api: {api:?}");
    assert!(api.body.contains("\"not_found\""), "{api:?}");
    // The control: the app's own files are served.
    let script = raw_http(server.addr, &raw_request("GET", "/app.js", &[], b"")).await;
    assert_eq!(
        (script.status, script.body.as_str()),
        (200, "the app's script")
    );
}

/// A client that sends its request a byte at a time is answered once it is whole, and
/// holds no one else up meanwhile, nor do twenty that stop halfway.
#[tokio::test]
async fn slow_headers_hold_no_one_up() {
    let server = TestServer::start().await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: tas")
            .await
            .unwrap();
        stalled.push(tcp);
    }
    let addr = server.addr;
    let trickle = tokio::spawn(async move {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        for byte in raw_request("GET", "/healthz", &[], b"") {
            tcp.write_all(&[byte]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        let mut answer = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut tcp, &mut answer)
            .await
            .unwrap();
        answer
    });
    for _ in 0..5 {
        let asked = Instant::now();
        let health = server.client().get("/healthz", None).await;
        assert_eq!(health.status(), 200);
        // Held up, it would wait for connections that never finish; it answers in
        // milliseconds, and the bound leaves room for a busy machine.
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{:?}",
            asked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = tokio::time::timeout(WAIT, trickle).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");
    drop(stalled);
}

/// Requests whose head never finishes (the request line, or the headers, cut short) do
/// not keep the server from stopping: it waits 5 s for HTTP requests, then up to 5 s for
/// sockets (which those connections, still holding the server's state, use up too).
#[tokio::test]
async fn requests_never_finished_do_not_hold_shutdown() {
    let mut server = TestServer::start().await;
    let mut stalled = Vec::new();
    for start in [&b"GET /heal"[..], b"GET /healthz HTTP/1.1\r\nHo"] {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(start).await.unwrap();
        stalled.push(tcp);
    }
    // Both are in the server's hands before it is told to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), server.stop())
        .await
        .expect("the server stops");
    // The two graces, 10 s, and room for closing the database on a loaded machine.
    assert!(
        asked.elapsed() < Duration::from_secs(18),
        "stopped after {:?}",
        asked.elapsed()
    );
    drop(stalled);
}

/// Half-open connections after the upgrade: a client that shuts its sending side (FIN)
/// is ended at once, before or after `auth`, and its place among the user's sockets is
/// free again.
#[tokio::test]
async fn half_closed_sockets_are_ended_and_free_their_place() {
    let server = TestServer::start_with(|args| args.max_sockets_per_user = 1).await;
    let alice = server.register("alice").await;

    // Before auth: not held until the auth timeout (10 s).
    let mut early = server.connect(true).await;
    let asked = Instant::now();
    half_close(&mut early).await;
    assert_eq!(early.closed().await.0, Closed::Dropped);
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );

    let mut first = server.socket(&alice.token).await;
    let mut second = server.connect(true).await;
    second
        .send(json!({"type": "auth", "id": 1, "token": alice.token}))
        .await;
    second.expect_close(4429).await;
    half_close(&mut first).await;
    assert_eq!(first.closed().await.0, Closed::Dropped);
    // The place is free: a new socket gets in (allowing the server a moment to notice).
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = server.connect(true).await;
        again
            .send(json!({"type": "auth", "id": 1, "token": alice.token}))
            .await;
        match again.next_frame().await {
            Some(frame) if frame["type"] == "auth_ok" => break,
            other => assert!(Instant::now() < deadline, "still refused: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Shuts the client's sending side of a socket's TCP connection, as a peer whose
/// network half went away.
async fn half_close(ws: &mut crate::support::Ws) {
    if let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.stream.get_mut() {
        tcp.shutdown().await.unwrap();
    } else {
        panic!("the tests speak plain TCP");
    }
}
