//! The sign-in's outcome as a future: the service fills the slot once every socket is
//! live (or the sign-in failed), and the sign-in page awaits it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::api::CallError;

/// Where a sign-in's outcome lands, for the future that waits on it.
#[derive(Default)]
pub(super) struct OutcomeSlot {
    state: RefCell<SlotState>,
}

#[derive(Default)]
struct SlotState {
    outcome: Option<Result<(), CallError>>,
    waker: Option<Waker>,
}

impl OutcomeSlot {
    pub(super) fn fill(&self, outcome: Result<(), CallError>) {
        let mut state = self.state.borrow_mut();
        if state.outcome.is_none() {
            state.outcome = Some(outcome);
        }
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }
}

pub(super) struct Outcome {
    pub(super) slot: Rc<OutcomeSlot>,
}

impl Future for Outcome {
    type Output = Result<(), CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.state.borrow_mut();
        match state.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
