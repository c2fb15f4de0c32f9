//! Every row of the contract's HTTP table, with its errors.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use sqlx::{Connection, PgConnection, SqliteConnection};
use taskwire_server::DbTarget;

use crate::support::{Closed, Signed, TestServer, assert_error, cookie_value, set_cookie};

#[tokio::test]
async fn register_login_and_me() {
    let server = TestServer::start().await;
    let client = server.client();
    let alice = server.register("alice").await;
    assert_eq!(alice.body["user"]["username"], "alice");
    assert_eq!(alice.body["user"]["role"], "user");
    assert!(alice.body["user"].get("acting_as_admin").is_none());
    assert!(
        alice.body["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api", "Max-Age="] {
        assert!(alice.set_cookie.contains(attribute), "{}", alice.set_cookie);
    }
    assert!(
        !alice.set_cookie.contains("Secure"),
        "plain http: {}",
        alice.set_cookie
    );

    let me: Value = client
        .get("/api/me", Some(&alice.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me, alice.body["user"]);

    let credentials = |name: &str, password: &str| json!({"username": name, "password": password});
    let taken = client
        .post("/api/register", None, credentials("alice", "another one"))
        .await;
    assert_error(taken, 409, "conflict").await;
    for (name, password) in [
        ("Al", "correct horse"),
        ("a b", "correct horse"),
        ("bob", "short"),
    ] {
        let bad = client
            .post("/api/register", None, credentials(name, password))
            .await;
        assert_error(bad, 400, "bad_request").await;
    }

    let login = client
        .post("/api/login", None, credentials("alice", "correct horse"))
        .await;
    assert_eq!(login.status(), 200);
    let wrong_password = client
        .post("/api/login", None, credentials("alice", "wrong horse"))
        .await;
    let a = assert_error(wrong_password, 401, "unauthorized").await;
    let wrong_name = client
        .post("/api/login", None, credentials("nobody", "wrong horse"))
        .await;
    let b = assert_error(wrong_name, 401, "unauthorized").await;
    assert_eq!(
        a, b,
        "the same answer for a wrong name and a wrong password"
    );

    assert_error(client.get("/api/me", None).await, 401, "unauthorized").await;
    assert_error(
        client.get("/api/me", Some("nonsense")).await,
        401,
        "unauthorized",
    )
    .await;
    let health = client.get("/healthz", None).await;
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn cookie_is_secure_behind_an_https_proxy() {
    let server = TestServer::start().await;
    let response = server
        .client()
        .http
        .post(server.url("/api/register"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": "carol", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookie = set_cookie(response.headers()).unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn tasks_create_update_delete() {
    let server = TestServer::start().await;
    let client = server.client();
    let token = server.register("alice").await.token;
    let token = Some(token.as_str());

    let empty: Value = client.get("/api/tasks", token).await.json().await.unwrap();
    assert_eq!(empty["seq"], 0);
    assert_eq!(empty["items"], json!([]));
    assert!(empty["epoch"].as_str().is_some_and(|e| !e.is_empty()));

    let created = client
        .post("/api/tasks", token, json!({"title": "  Buy milk  "}))
        .await;
    assert_eq!(created.status(), 201);
    let task: Value = created.json().await.unwrap();
    assert_eq!(task["title"], "Buy milk", "trimmed");
    assert_eq!(
        (task["done"].clone(), task["version"].clone()),
        (json!(false), json!(1))
    );
    assert_eq!(task["created_at"], task["updated_at"]);

    let id = Uuid::new_v4();
    let first = client
        .post("/api/tasks", token, json!({"id": id, "title": "Once"}))
        .await;
    assert_eq!(first.status(), 201);
    let again = client
        .post("/api/tasks", token, json!({"id": id, "title": "Twice"}))
        .await;
    assert_eq!(again.status(), 200, "idempotent create");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["title"], "Once");

    let path = format!("/api/tasks/{id}");
    let patched = client
        .send(Method::PATCH, &path, token, Some(json!({"done": true})))
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (patched["done"].clone(), patched["version"].clone()),
        (json!(true), json!(2))
    );
    let same = client
        .send(Method::PATCH, &path, token, Some(json!({"done": true})))
        .await;
    let same: Value = same.json().await.unwrap();
    assert_eq!(same["version"], 2, "no change, no new version");
    let renamed = client
        .send(
            Method::PATCH,
            &path,
            token,
            Some(json!({"title": "Renamed"})),
        )
        .await;
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(
        (renamed["title"].clone(), renamed["version"].clone()),
        (json!("Renamed"), json!(3))
    );

    let list: Value = client.get("/api/tasks", token).await.json().await.unwrap();
    assert_eq!(list["seq"], 4, "create, create, patch, patch");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["items"][1], renamed);

    let deleted = client.send(Method::DELETE, &path, token, None).await;
    assert_eq!(deleted.status(), 204);
    let gone = client.send(Method::DELETE, &path, token, None).await;
    assert_error(gone, 404, "not_found").await;
    let gone = client
        .send(Method::PATCH, &path, token, Some(json!({"done": false})))
        .await;
    assert_error(gone, 404, "not_found").await;
    let bad_id = client
        .send(
            Method::PATCH,
            "/api/tasks/not-a-uuid",
            token,
            Some(json!({})),
        )
        .await;
    assert_error(bad_id, 400, "bad_request").await;
    assert_error(client.get("/api/tasks", None).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn titles_are_checked_and_stored_verbatim() {
    let server = TestServer::start().await;
    let client = server.client();
    let token = server.register("alice").await.token;
    let token = Some(token.as_str());
    for title in [
        String::new(),
        "   ".into(),
        "x".repeat(201),
        "a\u{0}b".into(),
        "red\u{1b}[31m".into(),
        "two\nlines".into(),
    ] {
        let refused = client
            .post("/api/tasks", token, json!({"title": title}))
            .await;
        assert_error(refused, 400, "bad_request").await;
    }
    for title in [
        "x".repeat(200),
        "é".repeat(200),
        "'; DROP TABLE tasks;--".into(),
        "<b>bold</b> \"quoted\" %_\\".into(),
        "Robert'); DELETE FROM users; --".into(),
    ] {
        let created = client
            .post("/api/tasks", token, json!({"title": title}))
            .await;
        assert_eq!(created.status(), 201, "{title}");
        let task: Value = created.json().await.unwrap();
        assert_eq!(task["title"], title.as_str());
    }
    let list: Value = client.get("/api/tasks", token).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(5));
    assert_eq!(list["items"][2]["title"], "'; DROP TABLE tasks;--");
}

#[tokio::test]
async fn users_never_see_each_others_tasks() {
    let server = TestServer::start().await;
    let client = server.client();
    let alice = server.register("alice").await.token;
    let bob = server.register("bob").await.token;
    let task: Value = client
        .post("/api/tasks", Some(&alice), json!({"title": "Alice's"}))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let list: Value = client
        .get("/api/tasks", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]));
    let patch = client
        .send(
            Method::PATCH,
            &path,
            Some(&bob),
            Some(json!({"done": true})),
        )
        .await;
    assert_error(patch, 404, "not_found").await;
    let delete = client.send(Method::DELETE, &path, Some(&bob), None).await;
    assert_error(delete, 404, "not_found").await;
    // Bob choosing the same id gets a task of his own; Alice's is untouched.
    let own = client
        .post(
            "/api/tasks",
            Some(&bob),
            json!({"id": task["id"], "title": "Bob's"}),
        )
        .await;
    assert_eq!(own.status(), 201);
    let list: Value = client
        .get("/api/tasks", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([task]));
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let server = TestServer::start().await;
    let client = server.client();
    let first = server.register("alice").await;
    assert_error(client.refresh("made-up").await, 401, "unauthorized").await;
    assert_error(
        client.post("/api/refresh", None, json!({})).await,
        401,
        "unauthorized",
    )
    .await;

    let rotated = client.refresh(&first.cookie).await;
    assert_eq!(rotated.status(), 200);
    let second_cookie = cookie_value(&set_cookie(rotated.headers()).unwrap());
    assert_ne!(second_cookie, first.cookie);
    let body: Value = rotated.json().await.unwrap();
    assert_ne!(body["token"], first.body["token"]);
    assert_eq!(body["user"], first.body["user"]);
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(client.get("/api/me", Some(&token)).await.status(), 200);

    // The second cookie, used: the first is two rotations old now, and presenting it
    // again means a stolen copy. The whole session ends.
    let third = client.refresh(&second_cookie).await;
    assert_eq!(third.status(), 200);
    let third_cookie = cookie_value(&set_cookie(third.headers()).unwrap());
    let reused = client.refresh(&first.cookie).await;
    let cleared = set_cookie(reused.headers()).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_error(reused, 401, "unauthorized").await;
    assert_error(client.refresh(&third_cookie).await, 401, "unauthorized").await;
    assert_error(
        client.get("/api/me", Some(&token)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        client.get("/api/me", Some(&first.token)).await,
        401,
        "unauthorized",
    )
    .await;

    // Other sessions of the user are not affected.
    let other = server.login("alice").await;
    assert_eq!(
        client.get("/api/me", Some(&other.token)).await.status(),
        200
    );
}

/// The answer to a refresh lost on its way (a dropped connection, the app's deadline):
/// the browser still holds the cookie it presented, and presenting it again soon after
/// gets a new one, where it used to end the session as a theft. The token that was never
/// delivered is spent in its turn: whoever presents it had it from elsewhere.
#[tokio::test]
async fn a_refresh_whose_answer_was_lost_is_answered_again() {
    let server = TestServer::start().await;
    let client = server.client();
    let alice = server.register("alice").await;
    let lost = client.refresh(&alice.cookie).await;
    assert_eq!(lost.status(), 200);
    let undelivered = cookie_value(&set_cookie(lost.headers()).unwrap());

    for _ in 0..2 {
        let again = client.refresh(&alice.cookie).await;
        assert_eq!(again.status(), 200, "the same cookie, tried again");
        let body: Value = again.json().await.unwrap();
        let token = body["token"].as_str().unwrap().to_owned();
        assert_eq!(client.get("/api/me", Some(&token)).await.status(), 200);
    }
    assert_error(client.refresh(&undelivered).await, 401, "unauthorized").await;
    assert_error(client.refresh(&alice.cookie).await, 401, "unauthorized").await;
}

/// The grace is for a lost answer, soon after: the same cookie presented long after its
/// rotation is a stolen copy, as before.
#[tokio::test]
async fn a_refresh_token_presented_long_after_its_rotation_ends_the_session() {
    let server = TestServer::start().await;
    let client = server.client();
    let alice = server.register("alice").await;
    let rotated = client.refresh(&alice.cookie).await;
    assert_eq!(rotated.status(), 200);
    // Two minutes and a second ago, as the database records it.
    const EARLIER: &str = "UPDATE sessions SET rotated_at = rotated_at - 121";
    let moved = match server.db() {
        DbTarget::Sqlite(path) => {
            let url = format!("sqlite://{}", path.display());
            let mut db = SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(EARLIER)
                .execute(&mut db)
                .await
                .unwrap()
                .rows_affected()
        }
        DbTarget::Postgres(url) => {
            let mut db = PgConnection::connect(&url).await.unwrap();
            sqlx::query(EARLIER)
                .execute(&mut db)
                .await
                .unwrap()
                .rows_affected()
        }
    };
    assert_eq!(moved, 1);
    assert_error(client.refresh(&alice.cookie).await, 401, "unauthorized").await;
    assert_error(
        client.get("/api/me", Some(&alice.token)).await,
        401,
        "unauthorized",
    )
    .await;
}

/// `root`, an admin, and `bob`, signed in; then root acting as bob: both, and the acting
/// session's token.
async fn root_acting_as_bob(server: &TestServer) -> (Signed, Signed, String) {
    let root = server.register("root").await;
    let bob = server.register("bob").await;
    assert_eq!(
        taskwire_server::admin::promote(&server.db(), "root").await,
        Ok(true)
    );
    let acting = server
        .client()
        .post(
            "/api/login-as",
            Some(&root.token),
            json!({"username": "bob"}),
        )
        .await;
    assert_eq!(acting.status(), 200);
    let body: Value = acting.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    (root, bob, token)
}

/// The admin's own session ending (signed out from a tab that still held it) ends the
/// session it started acting as someone: that one's authority was the admin's.
#[tokio::test]
async fn the_admins_own_sign_out_ends_the_session_acting_for_them() {
    let server = TestServer::start().await;
    let client = server.client();
    let (root, _, token) = root_acting_as_bob(&server).await;
    let mut acting = server.socket(&token).await;
    let out = client
        .post("/api/logout", Some(&root.token), json!(null))
        .await;
    assert_eq!(out.status(), 204);
    acting.expect_close(4401).await;
    assert_error(
        client.get("/api/me", Some(&token)).await,
        401,
        "unauthorized",
    )
    .await;
}

/// Signing out while acting as someone signs the admin out too: their own session's
/// refresh cookie left the browser when the acting one replaced it, and must not live on
/// unseen, still able to sign in whoever copied it.
#[tokio::test]
async fn signing_out_while_acting_ends_the_admins_own_session_too() {
    let server = TestServer::start().await;
    let client = server.client();
    let (root, _, token) = root_acting_as_bob(&server).await;
    let mut admins = server.socket(&root.token).await;
    let out = client.post("/api/logout", Some(&token), json!(null)).await;
    assert_eq!(out.status(), 204);
    admins.expect_close(4401).await;
    assert_error(client.refresh(&root.cookie).await, 401, "unauthorized").await;
    assert_error(
        client.get("/api/me", Some(&root.token)).await,
        401,
        "unauthorized",
    )
    .await;
}

/// Signing out everywhere while acting as someone signs the admin out everywhere (their
/// own sessions, and this acting one), not the person acted as.
#[tokio::test]
async fn signing_out_everywhere_while_acting_is_the_admins() {
    let server = TestServer::start().await;
    let client = server.client();
    let (root, bob, token) = root_acting_as_bob(&server).await;
    let out = client
        .post("/api/logout-all", Some(&token), json!(null))
        .await;
    assert_eq!(out.status(), 204);
    for gone in [&token, &root.token] {
        assert_error(client.get("/api/me", Some(gone)).await, 401, "unauthorized").await;
    }
    assert_error(client.refresh(&root.cookie).await, 401, "unauthorized").await;
    assert_eq!(client.get("/api/me", Some(&bob.token)).await.status(), 200);
}

#[tokio::test]
async fn logout_and_logout_all() {
    let server = TestServer::start().await;
    let client = server.client();
    let one = server.register("alice").await;
    let two = server.login("alice").await;
    let three = server.login("alice").await;

    let out = client
        .post("/api/logout", Some(&one.token), json!(null))
        .await;
    assert_eq!(out.status(), 204);
    assert!(set_cookie(out.headers()).unwrap().contains("Max-Age=0"));
    assert_error(
        client.get("/api/me", Some(&one.token)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(client.refresh(&one.cookie).await, 401, "unauthorized").await;
    assert_eq!(client.get("/api/me", Some(&two.token)).await.status(), 200);

    let all = client
        .post("/api/logout-all", Some(&two.token), json!(null))
        .await;
    assert_eq!(all.status(), 204);
    for session in [&two, &three] {
        assert_error(
            client.get("/api/me", Some(&session.token)).await,
            401,
            "unauthorized",
        )
        .await;
        assert_error(client.refresh(&session.cookie).await, 401, "unauthorized").await;
    }
    assert_error(
        client.post("/api/logout", None, json!(null)).await,
        401,
        "unauthorized",
    )
    .await;
}

/// `POST /api/logout` with the refresh cookie, as the browser sends it.
async fn logout_with_cookie(server: &TestServer, token: Option<&str>, cookie: &str) -> u16 {
    let mut request = server
        .client()
        .http
        .post(server.url("/api/logout"))
        .header("cookie", format!("taskwire_refresh={cookie}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("logout").status().as_u16()
}

/// The cookie alone, as a browser whose page lost its token sends it, ends the session
/// and closes its socket.
#[tokio::test]
async fn logout_with_the_cookie_alone_ends_the_session() {
    let server = TestServer::start().await;
    let client = server.client();
    let alone = server.register("alice").await;
    let (mut ws, _) = server.subscribed(&alone.token).await;
    assert_eq!(logout_with_cookie(&server, None, &alone.cookie).await, 204);
    assert_error(client.refresh(&alone.cookie).await, 401, "unauthorized").await;
    assert_error(
        client.get("/api/me", Some(&alone.token)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(ws.closed().await.0, Closed::Code(4401));
}

/// Apart from the one above: a socket opened with a token of one second may see it
/// expire before it has subscribed.
#[tokio::test]
async fn logout_with_an_expired_token_or_a_spent_cookie_ends_the_session() {
    let server = TestServer::start_with(|args| args.access_ttl_secs = 1).await;
    let client = server.client();
    server.register("alice").await;

    // An access token that has expired does not keep the session alive.
    let expired = server.login("alice").await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_error(
        client.get("/api/me", Some(&expired.token)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(
        logout_with_cookie(&server, Some(&expired.token), &expired.cookie).await,
        204
    );
    assert_error(client.refresh(&expired.cookie).await, 401, "unauthorized").await;

    // A cookie already spent by a refresh still names its session.
    let rotated = server.login("alice").await;
    let fresh = Signed::from_response(client.refresh(&rotated.cookie).await).await;
    assert_eq!(
        logout_with_cookie(&server, None, &rotated.cookie).await,
        204
    );
    assert_error(client.refresh(&fresh.cookie).await, 401, "unauthorized").await;

    // Nothing to go on: no token, no cookie.
    assert_error(
        client.post("/api/logout", None, json!(null)).await,
        401,
        "unauthorized",
    )
    .await;
}

/// Signing out with an expired token, the browser's cookie meanwhile another person's
/// (signed in from another tab): the token's own session ends too, not only the
/// cookie's, so it is not left alive with nobody holding its refresh cookie.
#[tokio::test]
async fn logout_with_an_expired_token_ends_its_own_session_whatever_the_cookie() {
    let server = TestServer::start_with(|args| args.access_ttl_secs = 1).await;
    let client = server.client();
    server.register("alice").await;
    server.register("bob").await;
    let alices = server.login("alice").await;
    let bobs = server.login("bob").await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        logout_with_cookie(&server, Some(&alices.token), &bobs.cookie).await,
        204
    );
    assert_error(client.refresh(&alices.cookie).await, 401, "unauthorized").await;
    // The cookie's session ended too.
    assert_error(client.refresh(&bobs.cookie).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn admins_list_users_and_act_as_them() {
    let server = TestServer::start().await;
    let client = server.client();
    let root = server.register("root").await;
    let bob = server.register("bob").await;
    let login_as = |token: String| {
        let client = server.client();
        async move {
            client
                .post("/api/login-as", Some(&token), json!({"username": "bob"}))
                .await
        }
    };
    assert_error(login_as(bob.token.clone()).await, 403, "forbidden").await;
    assert_error(
        client.get("/api/admin/users", Some(&bob.token)).await,
        403,
        "forbidden",
    )
    .await;

    assert_eq!(
        taskwire_server::admin::promote(&server.db(), "root").await,
        Ok(true)
    );
    assert_eq!(
        taskwire_server::admin::promote(&server.db(), "nobody").await,
        Ok(false)
    );
    let users: Value = client
        .get("/api/admin/users", Some(&root.token))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob", "root"]);
    assert_eq!(users["users"][1]["role"], "admin");

    let acting = login_as(root.token.clone()).await;
    assert_eq!(acting.status(), 200);
    assert!(set_cookie(acting.headers()).is_some());
    let acting: Value = acting.json().await.unwrap();
    assert_eq!(acting["user"]["username"], "bob");
    assert_eq!(acting["user"]["acting_as_admin"], "root");
    let acting_token = acting["token"].as_str().unwrap().to_owned();
    let me: Value = client
        .get("/api/me", Some(&acting_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me, acting["user"]);
    // What the admin does as bob is bob's.
    client
        .post(
            "/api/tasks",
            Some(&acting_token),
            json!({"title": "Made by root"}),
        )
        .await;
    let bobs: Value = client
        .get("/api/tasks", Some(&bob.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["items"][0]["title"], "Made by root");
    // Acting sessions have no admin powers.
    assert_error(
        client.get("/api/admin/users", Some(&acting_token)).await,
        403,
        "forbidden",
    )
    .await;
    let missing = client
        .post(
            "/api/login-as",
            Some(&root.token),
            json!({"username": "ghost"}),
        )
        .await;
    assert_error(missing, 404, "not_found").await;
    let not_acting = client
        .post("/api/login-as/exit", Some(&root.token), json!(null))
        .await;
    assert_error(not_acting, 400, "bad_request").await;

    let back = client
        .post("/api/login-as/exit", Some(&acting_token), json!(null))
        .await;
    assert_eq!(back.status(), 200);
    let admin_cookie = cookie_value(&set_cookie(back.headers()).unwrap());
    let back: Value = back.json().await.unwrap();
    assert_eq!(back["user"]["username"], "root");
    assert!(back["user"].get("acting_as_admin").is_none());
    assert_error(
        client.get("/api/me", Some(&acting_token)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(client.refresh(&admin_cookie).await.status(), 200);
}

#[tokio::test]
async fn bodies_that_are_not_right_get_json_errors() {
    let server = TestServer::start().await;
    let client = server.client();
    let token = server.register("alice").await.token;
    let raw = |body: String, content_type: &'static str| {
        client
            .http
            .post(server.url("/api/tasks"))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let big = json!({"title": "x".repeat(70 * 1024)}).to_string();
    assert_error(
        raw(big, "application/json").await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    assert_error(
        raw("{\"title\":".into(), "application/json").await.unwrap(),
        400,
        "bad_request",
    )
    .await;
    assert_error(
        raw("[1,2]".into(), "application/json").await.unwrap(),
        400,
        "bad_request",
    )
    .await;
    assert_error(
        raw("{\"title\":5}".into(), "application/json")
            .await
            .unwrap(),
        400,
        "bad_request",
    )
    .await;
    assert_error(
        raw("{\"title\":\"x\"}".into(), "text/plain").await.unwrap(),
        400,
        "bad_request",
    )
    .await;
    assert_error(client.get("/api/nope", None).await, 404, "not_found").await;
    let put = client
        .send(Method::PUT, "/api/tasks", Some(&token), Some(json!({})))
        .await;
    assert_eq!(put.status(), 405);
    assert_error(put, 405, "bad_request").await;
    // /ws without an upgrade.
    assert_error(client.get("/ws", None).await, 400, "bad_request").await;
}

#[tokio::test]
async fn foreign_origins_are_refused_and_listed_ones_get_cors() {
    let server = TestServer::start_with(|args| {
        args.allow_origins = vec!["http://127.0.0.1:9999".into()];
    })
    .await;
    let client = server.client();
    let signed = server.register("alice").await;
    let with_origin = |path: &str, origin: &str| {
        client
            .http
            .post(server.url(path))
            .header("origin", origin)
            .header("cookie", format!("taskwire_refresh={}", signed.cookie))
    };
    let foreign = with_origin("/api/refresh", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_error(foreign, 403, "forbidden").await;
    let foreign = with_origin("/api/login", "null")
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_error(foreign, 403, "forbidden").await;
    let own = with_origin("/api/refresh", &server.origin())
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);

    let listed = "http://127.0.0.1:9999";
    let preflight = client
        .http
        .request(Method::OPTIONS, server.url("/api/tasks"))
        .header("origin", listed)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let header = |name: &str| {
        preflight
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("access-control-allow-origin").as_deref(),
        Some(listed)
    );
    assert_eq!(
        header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert!(header("access-control-allow-methods").is_some_and(|m| m.contains("PATCH")));
    let actual = client
        .http
        .get(server.url("/api/me"))
        .header("origin", listed)
        .bearer_auth(&signed.token)
        .send()
        .await
        .unwrap();
    assert_eq!(actual.status(), 200);
    assert_eq!(
        actual
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(listed)
    );

    // The socket handshake too.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/ws",
            server.addr
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("expected a 403 handshake, got {other:?}"),
    }
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_username_and_per_ip() {
    let server = TestServer::start_with(|args| {
        args.login_per_user = 3;
        args.login_per_ip = 8;
    })
    .await;
    let client = server.client();
    // Successes give their attempt back: only failures use up the limits.
    server.register("alice").await;
    for _ in 0..10 {
        server.login("alice").await;
    }
    let wrong = |name: &str| json!({"username": name, "password": "wrong password"});
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            client
                .post("/api/login", None, wrong("alice"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    let limited = client.post("/api/login", None, wrong("alice")).await;
    assert_error(limited, 429, "rate_limited").await;
    // Other names go on from this IP until the IP's own limit.
    let mut statuses = Vec::new();
    for n in 0..4 {
        statuses.push(
            client
                .post("/api/login", None, wrong(&format!("user{n}")))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    let register = client
        .post(
            "/api/register",
            None,
            json!({"username": "newbie", "password": "correct horse"}),
        )
        .await;
    assert_error(register, 429, "rate_limited").await;
    assert_eq!(client.get("/healthz", None).await.status(), 200);
}

/// An address over its limit is refused before the name it tries is counted: its
/// flood cannot lock the name's owner out from elsewhere.
#[tokio::test]
async fn an_address_over_its_limit_uses_up_no_ones_name() {
    let server = TestServer::start_with(|args| {
        args.login_per_user = 3;
        args.login_per_ip = 3;
    })
    .await;
    server.register("bob").await;
    let client = server.client();
    let wrong = |name: &str| json!({"username": name, "password": "wrong password"});
    for n in 0..3 {
        let guess = client
            .post("/api/login", None, wrong(&format!("user{n}")))
            .await;
        assert_eq!(guess.status(), 401);
    }
    for _ in 0..5 {
        let refused = client.post("/api/login", None, wrong("bob")).await;
        assert_eq!(refused.status(), 429);
    }
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let bob = elsewhere
        .post(server.url("/api/login"))
        .json(&json!({"username": "bob", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bob.status(), 200, "bob signs in from another address");
}

#[tokio::test]
async fn a_burst_of_a_thousand_requests_is_limited_and_the_server_carries_on() {
    let server = TestServer::start_with(|args| args.login_per_ip = 20).await;
    let client = server.client();
    let signed = server.register("alice").await;
    let mut handles = Vec::new();
    for n in 0..1000 {
        let http = client.http.clone();
        let url = server.url("/api/login");
        handles.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"username": format!("u{}", n % 50), "password": "wrong password"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    let mut limited = 0;
    for handle in handles {
        let status = handle.await.unwrap().expect("every request is answered");
        assert!(status == 401 || status == 429, "{status}");
        limited += usize::from(status == 429);
    }
    assert!(limited >= 900, "{limited} of 1000 limited");
    assert_eq!(client.get("/healthz", None).await.status(), 200);
    assert_eq!(
        client.get("/api/me", Some(&signed.token)).await.status(),
        200
    );
}

#[tokio::test]
async fn the_app_is_served_with_a_fallback_to_index_html() {
    let server = TestServer::start().await;
    let dist = server.args.static_dir.clone();
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>Taskwire</title>",
    )
    .unwrap();
    std::fs::write(dist.join("app.js"), "console.log('taskwire');".repeat(100)).unwrap();
    let client = server.client();
    for path in ["/", "/login", "/admin/deep/link"] {
        let page = client.get(path, None).await;
        assert_eq!(page.status(), 200, "{path}");
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("<title>Taskwire</title>"),
            "{path}"
        );
    }
    let script = client
        .http
        .get(server.url("/app.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(
        script
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    assert_error(
        client.get("/api/unknown/path", None).await,
        404,
        "not_found",
    )
    .await;
}

/// A board holds at most `--max-tasks-per-board` tasks (its snapshot is one frame, which
/// must stay readable): one more is refused with `forbidden` and nothing is written; a
/// retry of a create that went through still answers it, and a delete makes room again.
#[tokio::test]
async fn a_full_board_refuses_one_task_more() {
    let server = TestServer::start_with(|args| args.max_tasks_per_board = 2).await;
    let client = server.client();
    let alice = server.register("alice").await;
    let create = |id: Uuid| {
        let client = server.client();
        let token = alice.token.clone();
        async move {
            client
                .post(
                    "/api/tasks",
                    Some(&token),
                    json!({"id": id, "title": "One"}),
                )
                .await
        }
    };
    let (first, second, third) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(create(first).await.status(), 201);
    assert_eq!(create(second).await.status(), 201);
    assert_error(create(third).await, 403, "forbidden").await;
    assert_eq!(create(first).await.status(), 200, "a retry is answered");
    let tasks: Value = client
        .get("/api/tasks", Some(&alice.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tasks["items"].as_array().map(Vec::len), Some(2));
    let deleted = client
        .send(
            Method::DELETE,
            &format!("/api/tasks/{first}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(create(third).await.status(), 201, "room again");
}
