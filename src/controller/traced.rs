//! The reconcile entry point as the Controller calls it: one `reconcile` span per run carrying
//! the object's `namespace`, `name` and a fresh `reconcile_id` (their own fields in JSON logs,
//! on every line logged inside), the controller-runtime-style result metrics, and the failure
//! log line inside that span.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::{Instrument, info_span, warn};

use super::Context;
use super::error::Error;
use crate::crd::SipTrunk;
use crate::provider::ProviderError;

/// A short random id that ties together the log lines of one reconcile.
pub fn reconcile_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The `result` label of `controller_runtime_reconcile_total` for an outcome (see
/// [`crate::metrics::RESULTS`]): a provider's 429 and a lost optimistic-concurrency race (409
/// from the API server) are requeues, not faults.
pub fn result_label<T>(outcome: &Result<T, Error>) -> &'static str {
    match outcome {
        Ok(_) => "success",
        Err(Error::Provider(ProviderError::RateLimited { .. })) => "requeue",
        Err(Error::Kube(kube::Error::Api(status))) if status.code == 409 => "requeue",
        Err(_) => "error",
    }
}

/// Runs [`super::reconcile::reconcile`] inside its span, with metrics, and tells the work queue
/// when the trunk is next due (a failure: the error policy tells it).
pub async fn reconcile(trunk: Arc<SipTrunk>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = info_span!(
        "reconcile",
        namespace = %trunk.namespace().unwrap_or_default(),
        name = %trunk.name_any(),
        reconcile_id = %reconcile_id(),
    );
    let mut timer = ctx.metrics.reconcile_timer();
    let outcome = super::reconcile::reconcile(trunk.clone(), ctx.clone()).instrument(span.clone()).await;
    timer.result(result_label(&outcome));
    match outcome {
        Ok(next) => {
            ctx.queue.done(&trunk, next);
            Ok(Action::await_change())
        }
        Err(e) => {
            span.in_scope(|| warn!(reason = e.reason(), error = %e, "reconcile failed"));
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn results_follow_controller_runtime() {
        assert_eq!(result_label(&Ok(None::<Duration>)), "success");
        assert_eq!(result_label(&Ok(Some(Duration::from_secs(300)))), "success");
        let limited = Error::Provider(ProviderError::RateLimited { retry_after: Some(Duration::from_secs(3)) });
        assert_eq!(result_label(&Err::<(), _>(limited)), "requeue");
        let status = |code| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                message: "m".into(),
                reason: "Conflict".into(),
                ..Default::default()
            }))
        };
        assert_eq!(result_label(&Err::<(), _>(Error::Kube(status(409)))), "requeue");
        assert_eq!(result_label(&Err::<(), _>(Error::Kube(status(500)))), "error");
        assert_eq!(result_label(&Err::<(), _>(Error::blocked("SecretNotFound", "no Secret"))), "error");
        assert_eq!(result_label(&Err::<(), _>(Error::Provider(ProviderError::Transient("reset".into())))), "error");
    }

    #[test]
    fn reconcile_ids_are_distinct_hex() {
        let (a, b) = (reconcile_id(), reconcile_id());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
