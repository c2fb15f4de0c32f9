//! The outbox kept in IndexedDB, so that a reload, a closed tab or a crash does not lose
//! changes that were not sent yet (issue 15).
//!
//! Records hold opaque JSON strings from the outbox (the changes only, never a token),
//! one per user and browser tab. A tab keeps its id in `sessionStorage`, which a reload
//! keeps, so the reloaded page finds its own record. A page holds the Web Lock
//! `taskwire.tab.<id>` of its tab for its whole life: a record whose lock nobody holds
//! belongs to a closed or crashed tab, an orphan that a live tab of the same user may
//! adopt. The adopter takes the orphan's lock first and keeps it, so no two tabs adopt one
//! record, and a tab reloading in the meantime takes a fresh id instead of its old record.
//!
//! Where there are no Web Locks (a page not served securely, an old browser), nothing
//! tells a live tab from a closed one, so no other tab's record is ever an orphan: taking
//! a live tab's changes would send them twice. Such records wait for a browser with locks
//! (or sign-out's [`SavedChanges::clear`]), and duplicated tabs, which copy
//! `sessionStorage`, share one record there: the last save wins.

use std::cell::{Cell, RefCell};

use js_sys::{Array, Promise};
use uuid::Uuid;
use wasm_bindgen::prelude::{Closure, wasm_bindgen};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomException, IdbDatabase, IdbKeyRange, IdbObjectStore, IdbRequest, IdbTransaction,
    IdbTransactionMode,
};

#[wasm_bindgen(inline_js = r#"
// Takes the Web Lock `name` for the rest of the page's life. Resolves to true once taken,
// to false if another page holds it (after waiting up to `wait_ms`; 0: not at all), or to
// undefined where there are no Web Locks.
export function claim(name, wait_ms) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  if (!locks) return Promise.resolve();
  let options = { ifAvailable: true };
  if (wait_ms > 0) {
    const stop = new AbortController();
    setTimeout(() => stop.abort(), wait_ms);
    options = { signal: stop.signal };
  }
  return new Promise((done, failed) => {
    locks
      .request(name, options, (lock) => {
        done(lock !== null);
        return lock && new Promise(() => {});
      })
      .catch((error) => (error.name === "AbortError" ? done(false) : failed(error)));
  });
}
"#)]
extern "C" {
    fn claim(name: &str, wait_ms: u32) -> Promise;
}

/// A database of its own, so that its schema never waits on another feature's.
const DATABASE: &str = "taskwire.saved-changes";
const VERSION: u32 = 1;
/// Out-of-line keys `[user, tab]` (both as strings) to JSON strings.
const STORE: &str = "records";
/// Where a tab keeps its id across reloads.
const TAB_KEY: &str = "taskwire.tab";
/// How long a page waits for its tab's lock before taking a fresh id: the page a reload
/// replaced lets go of it within moments, the original of a duplicated tab never does.
const RELOAD_WAIT_MS: u32 = 1_000;

thread_local! {
    /// The tab id this page claimed, which every later [`SavedChanges::open`] reuses.
    static PAGE_TAB: Cell<Option<Uuid>> = const { Cell::new(None) };
    /// Closed tabs whose locks [`SavedChanges::load`] took (and holds for the page's life):
    /// their records are this page's to adopt.
    static ADOPTABLE: RefCell<Vec<Uuid>> = const { RefCell::new(Vec::new()) };
}

/// Why the browser's storage failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    /// No IndexedDB or `sessionStorage`: not a browser page, or storage is turned off.
    #[error("this browser keeps no storage for unsent changes")]
    Unavailable,
    /// The browser refused or aborted a request: quota, private mode, a newer version of
    /// the app upgrading the database, …
    #[error("the browser's storage failed: {0}")]
    Failed(String),
}

/// Which record: whose changes, saved by which tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordKey {
    pub user: Uuid,
    pub tab: Uuid,
}

impl RecordKey {
    fn to_js(self) -> JsValue {
        Array::of2(&self.user.to_string().into(), &self.tab.to_string().into()).into()
    }

    /// `None` for a key this module did not write.
    fn from_js(key: &JsValue) -> Option<Self> {
        let key = key.dyn_ref::<Array>()?;
        let part = |index| Uuid::try_parse(&key.get(index).as_string()?).ok();
        Some(Self {
            user: part(0)?,
            tab: part(1)?,
        })
    }
}

/// One user's saved changes as seen from this page's tab: one per signed-in user per page.
pub struct SavedChanges {
    user: Uuid,
    tab: Uuid,
    db: IdbDatabase,
    /// Closes the connection when a newer version of the app upgrades the database, which
    /// would otherwise wait for this page to close; saves then fail instead.
    _yield_to_upgrade: Closure<dyn FnMut()>,
}

impl SavedChanges {
    /// Opens the database (creating it the first time) and claims this page's tab id and
    /// lock, once per page: a duplicated tab waits a second for its original's lock
    /// before taking a fresh id.
    pub async fn open(user: Uuid) -> Result<Self, StorageError> {
        let tab = page_tab().await?;
        Self::with_tab(user, tab).await
    }

    /// Opens `user`'s records as the tab `tab`, leaving its lock alone: how the tests play
    /// another tab, whose lock they hold or release themselves.
    #[doc(hidden)]
    pub async fn with_tab(user: Uuid, tab: Uuid) -> Result<Self, StorageError> {
        let factory = window()?
            .indexed_db()
            .map_err(failed)?
            .ok_or(StorageError::Unavailable)?;
        let request = factory.open_with_u32(DATABASE, VERSION).map_err(failed)?;
        let upgrading = request.clone();
        let upgrade = Closure::once(move || {
            // Cannot fail in a new database; if it did, every transaction would fail with
            // a `StorageError` saying so.
            if let Ok(db) = upgrading.result() {
                let _ = db
                    .unchecked_into::<IdbDatabase>()
                    .create_object_store(STORE);
            }
        });
        request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        let opened = succeeded(&request).await;
        request.set_onupgradeneeded(None);
        let db: IdbDatabase = opened?.unchecked_into();
        let closing = db.clone();
        let yield_to_upgrade = Closure::<dyn FnMut()>::new(move || closing.close());
        db.set_onversionchange(Some(yield_to_upgrade.as_ref().unchecked_ref()));
        Ok(Self {
            user,
            tab,
            db,
            _yield_to_upgrade: yield_to_upgrade,
        })
    }

    /// Whether `key` names this tab's own record, which [`save`](Self::save) writes.
    pub fn is_own(&self, key: RecordKey) -> bool {
        key.user == self.user && key.tab == self.tab
    }

    /// This tab's record and every orphan record of this user, as `(key, json)` pairs,
    /// this tab's first. Deletes nothing: [`save`](Self::save) adopts them.
    pub async fn load(&self) -> Result<Vec<(RecordKey, String)>, StorageError> {
        let mut ours = vec![self.tab];
        for (key, _) in self.records().await? {
            if key.tab != self.tab && adoptable(key.tab).await? {
                ours.push(key.tab);
            }
        }
        // Read again now that the orphans' locks are this page's: a tab that closed after
        // the first read may have saved in between.
        let mut records = self.records().await?;
        records.retain(|(key, _)| ours.contains(&key.tab));
        records.sort_by_key(|(key, _)| key.tab != self.tab);
        Ok(records)
    }

    /// Writes this tab's record (`None`, an empty outbox, deletes it) and deletes the
    /// `adopted` records from [`load`](Self::load), in one transaction, so that adopted
    /// changes are never lost or doubled between the records.
    ///
    /// The transaction starts now, not when the future is first polled, and IndexedDB
    /// runs the transactions of a store in the order they start: saves land in the order
    /// they are called. The future, which borrows nothing, says whether it landed.
    pub fn save(
        &self,
        json: Option<&str>,
        adopted: &[RecordKey],
    ) -> impl Future<Output = Result<(), StorageError>> + use<> {
        let own = RecordKey {
            user: self.user,
            tab: self.tab,
        }
        .to_js();
        let committing = self
            .write(|store| {
                // Adopted first, in case the caller handed back this tab's own key too.
                for key in adopted {
                    store.delete(&key.to_js())?;
                }
                match json {
                    Some(json) => store.put_with_key(&JsValue::from_str(json), &own)?,
                    None => store.delete(&own)?,
                };
                Ok(())
            })
            .map(committed);
        async move { committing?.await }
    }

    /// Deletes every record of this user, whichever tab saved it: sign-out. Starts now,
    /// like [`save`](Self::save), so it lands after the saves called before it.
    pub fn clear(&self) -> impl Future<Output = Result<(), StorageError>> + use<> {
        let committing = self
            .range()
            .and_then(|range| self.write(|store| store.delete(&range).map(drop)))
            .map(committed);
        async move { committing?.await }
    }

    /// Every record of this user but this tab's own, whichever tab saved it: what a
    /// sign-out here deletes besides. Starts now, like [`save`](Self::save), and borrows
    /// nothing.
    pub fn others(
        &self,
    ) -> impl Future<Output = Result<Vec<(RecordKey, String)>, StorageError>> + use<> {
        let own = RecordKey {
            user: self.user,
            tab: self.tab,
        };
        let reading = self.read_all();
        async move {
            let mut records = reading?.await?;
            records.retain(|(key, _)| *key != own);
            Ok(records)
        }
    }

    /// Every record of this user, in key order, leaving out any this module did not write.
    async fn records(&self) -> Result<Vec<(RecordKey, String)>, StorageError> {
        self.read_all()?.await
    }

    /// Asks for every record of this user now; the future reads the answer.
    fn read_all(
        &self,
    ) -> Result<
        impl Future<Output = Result<Vec<(RecordKey, String)>, StorageError>> + use<>,
        StorageError,
    > {
        let range = self.range()?;
        let (transaction, store) = self.transaction(IdbTransactionMode::Readonly)?;
        let keys = store.get_all_keys_with_key(&range).map_err(failed)?;
        let values = store.get_all_with_key(&range).map_err(failed)?;
        Ok(async move {
            committed(transaction).await?;
            let list = |request: IdbRequest| -> Result<Array, StorageError> {
                let result = request.result().map_err(failed)?;
                result
                    .dyn_into()
                    .map_err(|_| StorageError::Failed("IndexedDB did not answer a list".into()))
            };
            let (keys, values) = (list(keys)?, list(values)?);
            Ok(keys
                .iter()
                .zip(values.iter())
                .filter_map(|(key, json)| Some((RecordKey::from_js(&key)?, json.as_string()?)))
                .collect())
        })
    }

    /// Issues `requests` in a new readwrite transaction, now. If one cannot be issued the
    /// transaction is aborted, so none of them lands.
    fn write(
        &self,
        requests: impl FnOnce(&IdbObjectStore) -> Result<(), JsValue>,
    ) -> Result<IdbTransaction, StorageError> {
        let (transaction, store) = self.transaction(IdbTransactionMode::Readwrite)?;
        if let Err(error) = requests(&store) {
            let _ = transaction.abort();
            return Err(failed(error));
        }
        Ok(transaction)
    }

    fn transaction(
        &self,
        mode: IdbTransactionMode,
    ) -> Result<(IdbTransaction, IdbObjectStore), StorageError> {
        let transaction = self
            .db
            .transaction_with_str_and_mode(STORE, mode)
            .map_err(failed)?;
        let store = transaction.object_store(STORE).map_err(failed)?;
        Ok((transaction, store))
    }

    /// Every key `[user, tab]` of this user: arrays sort after strings, so `[user, []]`
    /// comes after every tab.
    fn range(&self) -> Result<IdbKeyRange, StorageError> {
        let user = JsValue::from(self.user.to_string());
        IdbKeyRange::bound(&Array::of1(&user), &Array::of2(&user, &Array::new())).map_err(failed)
    }
}

impl Drop for SavedChanges {
    /// Closes the connection; saves still under way finish first.
    fn drop(&mut self) {
        self.db.set_onversionchange(None);
        self.db.close();
    }
}

/// This page's tab id, claimed with its lock by the first call. The id in
/// `sessionStorage` is taken back after a reload; it is replaced by a fresh one when
/// another page keeps its lock (a duplicated tab) or there is none yet.
async fn page_tab() -> Result<Uuid, StorageError> {
    let storage = window()?
        .session_storage()
        .map_err(failed)?
        .ok_or(StorageError::Unavailable)?;
    let stored = storage
        .get_item(TAB_KEY)
        .map_err(failed)?
        .and_then(|id| Uuid::try_parse(&id).ok());
    if let Some(tab) = stored
        && PAGE_TAB.get() == Some(tab)
    {
        return Ok(tab);
    }
    let mut tab = match stored {
        Some(tab) => tab,
        None => fresh_tab()?,
    };
    while take_lock(tab, RELOAD_WAIT_MS).await? == Lock::HeldElsewhere {
        tab = fresh_tab()?;
    }
    if stored != Some(tab) {
        storage
            .set_item(TAB_KEY, &tab.to_string())
            .map_err(failed)?;
    }
    PAGE_TAB.set(Some(tab));
    Ok(tab)
}

/// Whether `tab`'s records are this page's to adopt: it took the tab's lock in an earlier
/// call, or takes it now because that tab is closed.
/// Whether `tab` is closed (or crashed): nobody holds its lock, which this page then
/// holds, so that its record is this page's to take over ([`load`](SavedChanges::load))
/// and to count. `false` where the browser has no Web Locks.
pub async fn orphaned(tab: Uuid) -> Result<bool, StorageError> {
    adoptable(tab).await
}

async fn adoptable(tab: Uuid) -> Result<bool, StorageError> {
    if ADOPTABLE.with_borrow(|tabs| tabs.contains(&tab)) {
        return Ok(true);
    }
    let taken = take_lock(tab, 0).await? == Lock::Taken;
    if taken {
        ADOPTABLE.with_borrow_mut(|tabs| tabs.push(tab));
    }
    Ok(taken)
}

#[derive(Debug, PartialEq)]
enum Lock {
    /// Held by this page until it closes.
    Taken,
    HeldElsewhere,
    /// The browser has no Web Locks.
    Unsupported,
}

async fn take_lock(tab: Uuid, wait_ms: u32) -> Result<Lock, StorageError> {
    let taken = JsFuture::from(claim(&format!("taskwire.tab.{tab}"), wait_ms))
        .await
        .map_err(failed)?;
    Ok(match taken.as_bool() {
        Some(true) => Lock::Taken,
        Some(false) => Lock::HeldElsewhere,
        None => Lock::Unsupported,
    })
}

/// A random tab id: it needs uniqueness, not secrecy.
fn fresh_tab() -> Result<Uuid, StorageError> {
    let mut bytes = [0u8; 16];
    window()?
        .crypto()
        .map_err(failed)?
        .get_random_values_with_u8_array(&mut bytes)
        .map_err(failed)?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

fn window() -> Result<web_sys::Window, StorageError> {
    web_sys::window().ok_or(StorageError::Unavailable)
}

/// Resolves once `request` succeeds, to its result.
async fn succeeded(request: &IdbRequest) -> Result<JsValue, StorageError> {
    let outcome = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    match JsFuture::from(outcome).await {
        Ok(_) => request.result().map_err(failed),
        Err(_) => Err(match request.error() {
            Ok(Some(error)) => failed(error.into()),
            _ => StorageError::Failed("the request failed".into()),
        }),
    }
}

/// Resolves once `transaction` commits; to its error if it aborts (which a failed
/// request makes it do). Listens from the call on, not from the first poll, so that a
/// future polled late still hears the outcome.
fn committed(
    transaction: IdbTransaction,
) -> impl Future<Output = Result<(), StorageError>> + use<> {
    let outcome = JsFuture::from(Promise::new(&mut |resolve, reject| {
        transaction.set_oncomplete(Some(&resolve));
        transaction.set_onabort(Some(&reject));
    }));
    async move {
        match outcome.await {
            Ok(_) => Ok(()),
            Err(_) => Err(match transaction.error() {
                Some(error) => failed(error.into()),
                None => StorageError::Failed("the transaction was aborted".into()),
            }),
        }
    }
}

/// A JavaScript exception (usually a `DOMException`) as a [`StorageError`].
fn failed(error: JsValue) -> StorageError {
    StorageError::Failed(match error.dyn_ref::<DomException>() {
        Some(error) => format!("{}: {}", error.name(), error.message()),
        None => format!("{error:?}"),
    })
}
