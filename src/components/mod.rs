//! The pieces pages are built from, one job each.

mod acting_as;
mod alert;
mod brand;
mod connection_status;
mod filter;
mod header;
mod new_task;
mod pending;
mod rtt_chart;
mod signed_in;
mod subscriptions;
mod task_footer;
mod task_item;
mod task_list;

pub use alert::ServiceAlert;
pub use brand::Brand;
pub use filter::Filter;
pub use new_task::NewTaskForm;
pub use pending::PendingChanges;
pub use rtt_chart::{RttChart, whole_ms};
pub use signed_in::SignedInPage;
use subscriptions::unsubscribe_on_cleanup;
pub use task_footer::TaskFooter;
pub use task_list::TaskList;
