//! What a create leaves to do: the fields the provider's create does not take, set in the same
//! reconcile, and a create refused as a conflict, explained by the resource another trunk holds.

use std::sync::Arc;
use std::time::Duration;

use super::accounts::Account;
use super::error::Error;
use crate::crd::SipTrunkStatus;
use crate::model::{self, Decision, DesiredTrunk, Held, MatchInput, RemoteTrunk, TrunkChange, Wanted};
use crate::provider::{Family, ProviderError};

/// After a create: sends what the create did not set (fields its page does not document, or
/// that the provider dropped), judged like any diff with the record of what the create sent.
/// Returns the trunk as it now is and the fields set after the create.
pub(super) async fn finish<F: Family>(
    account: &Arc<Account<F>>,
    desired: &F::Desired,
    created: F::Remote,
    record: &model::Applied,
) -> Result<(F::Remote, Vec<&'static str>), Error> {
    let mut change = desired.diff_applied(&created, None, record);
    // DIDs went with the create; a response that shows them differently (a count instead of the
    // list) is left to the next drift check, which reads the list.
    if F::capabilities(account.http().provider()).dids
        && let Some(c) = &mut change
    {
        c.without_sub_resources();
    }
    let Some(change) = change.filter(|c| !c.is_empty()) else {
        return Ok((created, vec![]));
    };
    let fields = change.fields();
    match F::update(&account.client, &created, &change).await {
        Ok(updated) => {
            account.upsert(updated.clone()).await;
            Ok((updated, fields))
        }
        Err(e) => {
            account.invalidate();
            let message = format!(
                "created trunk {}, but setting {} after the create failed: {e}",
                created.id(),
                fields.join(", ")
            );
            Err(match e {
                rate @ ProviderError::RateLimited { .. } => rate.into(),
                e if e.is_transient() => ProviderError::Transient(message).into(),
                e => Error::blocked(e.reason(), message),
            })
        }
    }
}

/// A create refused as a conflict (409, or 422 where a provider says so): matched again on a
/// fresh list and judged by `model::decide`. A trunk with the natural key that is not ours, or a
/// resource of the spec another trunk holds (e.g. a DID), is a Conflict naming it that waits for
/// a change; our own trunk whose create lost its answer is retried soon and then adopted. A
/// refusal nothing in the list explains waits for a change too, never retried as transient.
pub(super) async fn refused<F: Family>(
    account: &Arc<Account<F>>,
    desired: &F::Desired,
    input: &MatchInput<'_>,
    want: &Wanted<'_, F::Desired>,
    status: &SipTrunkStatus,
    e: ProviderError,
) -> Error {
    account.invalidate();
    let obs = match account.find(Duration::ZERO, input).await {
        Ok(o) => o,
        Err(list) => return list.into(),
    };
    match model::decide(&obs, want, status) {
        Decision::Conflict { message, .. } => Error::blocked("Conflict", message),
        Decision::Refuse { reason, message } => Error::blocked(reason, message),
        Decision::Create | Decision::Pending { trunk: None, .. } => {
            let held = account.held_elsewhere(desired).await;
            if held.is_empty() {
                return match e {
                    ProviderError::Conflict { message } => Error::blocked(
                        "Conflict",
                        format!(
                            "the provider refused the create as a conflict ({message}) and no trunk of the account \
                             explains it; change the spec"
                        ),
                    ),
                    other => other.into(),
                };
            }
            let what: Vec<String> = held.iter().map(ToString::to_string).collect();
            let mut fields: Vec<&str> = held.iter().map(Held::field).collect();
            fields.dedup();
            Error::blocked(
                "Conflict",
                format!(
                    "the provider refused the create: {}; remove it there or from {}",
                    what.join("; "),
                    fields.join(", ")
                ),
            )
        }
        _ => ProviderError::Transient(format!("create answered {e}; the trunk is now listed, matching again")).into(),
    }
}
