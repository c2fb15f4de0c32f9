//! Ending a view's subscriptions when its owner is cleaned up.

use leptos::prelude::on_cleanup;
use leptos::reactive::graph::{AnySubscriber, Subscriber};

/// Unsubscribes `subscriber` (an effect or memo of the current owner) from everything it
/// reads, when the owner is cleaned up.
///
/// Leptos 0.8 leaves a disposed effect or memo in the subscriber set of every signal it
/// read, where it keeps its allocation and is visited on every change of that signal.
/// That does not matter for signals that go with the view; a task's row signal lives for
/// the session, and a 10,000-row list shown again after a filter or a page change would
/// leave 10,000 more dead entries each time. Cleanups run before the owner's values are
/// dropped, so the subscriber is still there to unsubscribe.
pub fn unsubscribe_on_cleanup(subscriber: AnySubscriber) {
    on_cleanup(move || subscriber.clear_sources(&subscriber));
}
