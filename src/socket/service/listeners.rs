//! The window's `online`, `offline` and `visibilitychange` events, fed to every socket
//! while the service lives, and unhooked when it goes.

use std::rc::Weak;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::EventTarget;

use super::{Inner, Service};
use crate::client::machine::Input;

/// A `window`/`document` event listener, removed when dropped.
pub(super) struct Listener {
    target: EventTarget,
    kind: &'static str,
    closure: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.closure.as_ref().unchecked_ref());
    }
}

/// `online`, `offline` and `visibilitychange`, fed to every socket.
pub(super) fn window_listeners(weak: &Weak<Inner>) -> Vec<Listener> {
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let document = window.document();
    let mut listeners = Vec::new();
    let mut listen = |target: EventTarget, kind: &'static str, input: fn() -> Option<Input>| {
        let weak = weak.clone();
        let closure = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            if let (Some(service), Some(input)) = (Service::from_weak(&weak), input()) {
                service.run(None, input);
            }
        });
        if target
            .add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref())
            .is_ok()
        {
            listeners.push(Listener {
                target,
                kind,
                closure,
            });
        }
    };
    listen(window.clone().into(), "online", || Some(Input::Online));
    listen(window.into(), "offline", || Some(Input::Offline));
    if let Some(document) = document {
        listen(document.into(), "visibilitychange", || {
            let visible = web_sys::window()
                .and_then(|window| window.document())
                .is_some_and(|document| {
                    document.visibility_state() == web_sys::VisibilityState::Visible
                });
            visible.then_some(Input::Visible)
        });
    }
    listeners
}
