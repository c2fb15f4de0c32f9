//! What a page load does before anyone signs in: gives the session back from the refresh
//! cookie, settles a sign-out still owed, and follows sign-outs made in other tabs.

use leptos::prelude::*;

use super::Taskwire;
use crate::pending_sign_out;

/// The page-load refresh asks an unreachable server again after 1 s, then 2, 4 and 8,
/// and every 10 s from there.
const RESTORE_RETRY_FIRST_MS: u32 = 1_000;
const RESTORE_RETRY_MAX_MS: u32 = 10_000;

impl Taskwire {
    /// Page load: the refresh cookie, if any, gives the session back; unless a sign-out
    /// is still owed to the server, which is settled first (see [`pending_sign_out`]).
    /// A server out of reach is asked again, more slowly each time, and nobody is sent to
    /// the sign-in page meanwhile: only the server refusing the session ends it.
    pub(super) fn restore(self) {
        let Some(service) = self.service() else {
            return;
        };
        let generation = service.generation();
        let api = service.api();
        wasm_bindgen_futures::spawn_local(async move {
            if !pending_sign_out::settle(&api).await {
                self.views.sign_out_owed.set(true);
            } else {
                let mut wait_ms = RESTORE_RETRY_FIRST_MS;
                loop {
                    let refreshed = api.refresh().await;
                    if self.gone() {
                        return;
                    }
                    if service.generation() != generation {
                        break;
                    }
                    match refreshed {
                        Ok(session) => {
                            self.views.user.set(Some(session.user.clone()));
                            service.start(&session);
                            break;
                        }
                        Err(error) if error.may_pass_later() => {
                            self.views.restore_retrying.set(true);
                            gloo_timers::future::TimeoutFuture::new(wait_ms).await;
                            if self.gone() {
                                return;
                            }
                            // Signed in meanwhile, or out in another tab: the cookie this
                            // would spend is not the restore's any more.
                            if service.generation() != generation || pending_sign_out::owed() {
                                break;
                            }
                            wait_ms = (wait_ms * 2).min(RESTORE_RETRY_MAX_MS);
                        }
                        Err(_) => break,
                    }
                }
            }
            self.views.restore_retrying.set(false);
            self.views.restoring.set(false);
        });
    }

    /// The app was taken off the page: nothing of it is to be asked for or written.
    fn gone(self) -> bool {
        self.service().is_none()
    }

    /// An owed sign-out is settled when the browser comes back online; a sign-out in
    /// another tab signs this one out too (a shared computer is left signed out).
    pub(super) fn follow_sign_outs(self) {
        let online = window_event_listener(leptos::ev::online, move |_| {
            if let Some(service) = self.service() {
                let api = service.api();
                wasm_bindgen_futures::spawn_local(async move {
                    if pending_sign_out::settle(&api).await {
                        self.views.sign_out_owed.set(false);
                    }
                });
            }
        });
        let storage = window_event_listener(leptos::ev::storage, move |event| {
            if pending_sign_out::is_owed_by(&event)
                && let Some(service) = self.service()
            {
                service.stop();
                self.views.sign_out_owed.set(true);
            }
        });
        on_cleanup(move || {
            online.remove();
            storage.remove();
        });
    }
}
