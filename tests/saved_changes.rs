//! The outbox's browser storage (`saved_changes`) in a real browser: a reload finds its
//! tab's record, users and live tabs keep theirs, a closed tab's are adopted. Other tabs
//! are played by a second `SavedChanges` whose Web Lock the test holds or lets go of, as
//! the tab's page would. No server: the tests share one page and its IndexedDB, so each
//! uses users of its own.

#![cfg(target_arch = "wasm32")]

mod support;

use std::time::Duration;

use support::{close_tab, lock_name, open_tab, random_uuid};
use taskwire::saved_changes::{RecordKey, SavedChanges};
use uuid::Uuid;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
// Whether some page holds the Web Lock `name`.
export async function is_held(name) {
  const { held } = await navigator.locks.query();
  return held.some((lock) => lock.name === name);
}

// Makes the page look like one without Web Locks; the returned function undoes it.
export function hide_locks() {
  Object.defineProperty(navigator, "locks", { value: undefined, configurable: true });
  return () => { delete navigator.locks; };
}
"#)]
extern "C" {
    fn is_held(name: &str) -> js_sys::Promise;
    fn hide_locks() -> js_sys::Function;
}

const TAB_KEY: &str = "taskwire.tab";

async fn lock_is_held(tab: Uuid) -> bool {
    JsFuture::from(is_held(&lock_name(tab)))
        .await
        .expect("the held locks")
        .is_truthy()
}

fn session_storage() -> web_sys::Storage {
    web_sys::window()
        .expect("a window")
        .session_storage()
        .expect("sessionStorage")
        .expect("sessionStorage")
}

/// The tab id this page keeps across reloads.
fn stored_tab() -> Option<Uuid> {
    let stored = session_storage().get_item(TAB_KEY).expect("getItem")?;
    Uuid::try_parse(&stored).ok()
}

async fn open(user: Uuid) -> SavedChanges {
    SavedChanges::open(user).await.expect("open")
}

async fn open_as(user: Uuid, tab: Uuid) -> SavedChanges {
    SavedChanges::with_tab(user, tab).await.expect("open")
}

async fn load(saved: &SavedChanges) -> Vec<(RecordKey, String)> {
    saved.load().await.expect("load")
}

async fn save(saved: &SavedChanges, json: &str) {
    saved.save(Some(json), &[]).await.expect("save");
}

fn record(user: Uuid, tab: Uuid, json: &str) -> (RecordKey, String) {
    (RecordKey { user, tab }, json.to_owned())
}

#[wasm_bindgen_test]
async fn a_reload_finds_its_tabs_record() {
    let user = random_uuid();
    let before = open(user).await;
    save(&before, r#"[{"op":"create"}]"#).await;
    drop(before);

    let after = open(user).await;
    let tab = stored_tab().expect("the tab id in sessionStorage");
    assert_eq!(
        load(&after).await,
        [record(user, tab, r#"[{"op":"create"}]"#)]
    );
    assert!(lock_is_held(tab).await, "the page holds its tab's lock");
}

#[wasm_bindgen_test]
async fn an_empty_outbox_deletes_the_record() {
    let user = random_uuid();
    let saved = open(user).await;
    save(&saved, "[1]").await;
    saved.save(None, &[]).await.expect("save");
    assert_eq!(load(&saved).await, []);
}

#[wasm_bindgen_test]
async fn saves_land_in_the_order_they_are_called() {
    let user = random_uuid();
    let saved = open(user).await;
    let first = saved.save(Some("[1]"), &[]);
    let second = saved.save(Some("[1,2]"), &[]);
    let third = saved.save(Some("[1,2,3]"), &[]);
    // Awaited out of order: each started when it was called.
    third.await.expect("third");
    first.await.expect("first");
    second.await.expect("second");
    let loaded = load(&saved).await;
    assert_eq!(
        loaded
            .iter()
            .map(|(_, json)| json.as_str())
            .collect::<Vec<_>>(),
        ["[1,2,3]"]
    );
}

#[wasm_bindgen_test]
async fn another_users_records_are_never_loaded() {
    let (mine, theirs) = (random_uuid(), random_uuid());
    save(&open(theirs).await, "[\"theirs, this tab\"]").await;
    // Even a closed tab's: an orphan, but not this user's.
    save(
        &open_as(theirs, random_uuid()).await,
        "[\"theirs, closed\"]",
    )
    .await;

    let saved = open(mine).await;
    assert_eq!(load(&saved).await, []);
    save(&saved, "[\"mine\"]").await;
    assert_eq!(
        load(&saved)
            .await
            .iter()
            .map(|(key, _)| key.user)
            .collect::<Vec<_>>(),
        [mine]
    );
}

#[wasm_bindgen_test]
async fn a_live_tabs_record_is_left_alone_and_a_closed_tabs_is_adopted() {
    let user = random_uuid();
    let other = random_uuid();
    let other_tab = open_tab(other).await;
    save(&open_as(user, other).await, "[\"theirs\"]").await;
    let saved = open(user).await;
    save(&saved, "[\"mine\"]").await;
    let own = stored_tab().expect("the tab id");

    assert_eq!(load(&saved).await, [record(user, own, "[\"mine\"]")]);

    close_tab(other_tab).await;
    let loaded = load(&saved).await;
    assert_eq!(
        loaded,
        [
            record(user, own, "[\"mine\"]"),
            record(user, other, "[\"theirs\"]")
        ]
    );
    assert!(
        lock_is_held(other).await,
        "the adopter keeps the orphan's lock, so no other tab adopts it too"
    );
    // Loading again (nothing adopted yet) gives the orphan again.
    assert_eq!(load(&saved).await, loaded);

    saved
        .save(
            Some("[\"mine\",\"theirs\"]"),
            &[RecordKey { user, tab: other }],
        )
        .await
        .expect("save adopting");
    assert_eq!(
        load(&saved).await,
        [record(user, own, "[\"mine\",\"theirs\"]")]
    );
}

#[wasm_bindgen_test]
async fn adopting_with_an_empty_outbox_deletes_both_records() {
    let user = random_uuid();
    let other = random_uuid();
    save(&open_as(user, other).await, "[\"theirs\"]").await;
    let saved = open(user).await;
    save(&saved, "[\"mine\"]").await;
    assert_eq!(load(&saved).await.len(), 2);

    saved
        .save(None, &[RecordKey { user, tab: other }])
        .await
        .expect("save adopting");
    assert_eq!(load(&saved).await, []);
}

#[wasm_bindgen_test]
async fn clear_deletes_every_record_of_the_user_only() {
    let (user, someone) = (random_uuid(), random_uuid());
    let saved = open(user).await;
    save(&saved, "[\"mine\"]").await;
    let other = random_uuid();
    let other_tab = open_tab(other).await;
    let elsewhere = open_as(user, other).await;
    save(&elsewhere, "[\"mine, elsewhere\"]").await;
    let theirs = open(someone).await;
    save(&theirs, "[\"theirs\"]").await;

    saved.clear().await.expect("clear");

    assert_eq!(load(&saved).await, []);
    assert_eq!(load(&elsewhere).await, []);
    assert_eq!(
        load(&theirs)
            .await
            .into_iter()
            .map(|(_, json)| json)
            .collect::<Vec<_>>(),
        ["[\"theirs\"]"]
    );
    close_tab(other_tab).await;
}

#[wasm_bindgen_test]
async fn a_duplicated_tab_takes_a_fresh_id() {
    let user = random_uuid();
    // The original tab, whose id the duplicate's sessionStorage copied.
    let original = random_uuid();
    let original_tab = open_tab(original).await;
    save(&open_as(user, original).await, "[\"original\"]").await;
    session_storage()
        .set_item(TAB_KEY, &original.to_string())
        .expect("setItem");

    let duplicate = open(user).await;
    let tab = stored_tab().expect("the tab id");
    assert_ne!(tab, original);
    assert_eq!(
        load(&duplicate).await,
        [],
        "the original's record stays its own"
    );
    save(&duplicate, "[\"duplicate\"]").await;
    assert_eq!(
        load(&duplicate).await,
        [record(user, tab, "[\"duplicate\"]")]
    );
    close_tab(original_tab).await;
}

#[wasm_bindgen_test]
async fn a_reload_waits_for_the_page_it_replaces_to_let_go() {
    let user = random_uuid();
    let tab = random_uuid();
    let old_page = open_tab(tab).await;
    save(&open_as(user, tab).await, "[\"before the reload\"]").await;
    session_storage()
        .set_item(TAB_KEY, &tab.to_string())
        .expect("setItem");
    spawn_local(async move {
        gloo_timers::future::sleep(Duration::from_millis(100)).await;
        close_tab(old_page).await;
    });

    let reloaded = open(user).await;
    assert_eq!(stored_tab(), Some(tab));
    assert_eq!(
        load(&reloaded).await,
        [record(user, tab, "[\"before the reload\"]")]
    );
}

#[wasm_bindgen_test]
async fn without_web_locks_no_other_tabs_record_is_an_orphan() {
    let user = random_uuid();
    let closed = random_uuid();
    save(&open_as(user, closed).await, "[\"theirs\"]").await;
    let saved = open(user).await;
    save(&saved, "[\"mine\"]").await;
    let own = stored_tab().expect("the tab id");

    let restore = hide_locks();
    let loaded = saved.load().await;
    restore.call0(&JsValue::UNDEFINED).expect("restore");
    assert_eq!(loaded.expect("load"), [record(user, own, "[\"mine\"]")]);
}
