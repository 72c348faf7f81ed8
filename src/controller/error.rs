//! Reconcile errors: one enum, a bounded reason per variant, and whether waiting helps.

use crate::provider::ProviderError;

/// Why a reconcile could not reach the desired state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something the user must fix (spec, missing object or key, conflict). No provider call
    /// is retried until an object changes.
    #[error("{message}")]
    Blocked {
        /// Bounded condition reason (InvalidSpec, SecretNotFound, ProviderNotFound, ...).
        reason: &'static str,
        /// What to fix.
        message: String,
    },
    /// The provider answered with an error.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The Kubernetes API failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// An object lacks metadata the operator needs (name, namespace).
    #[error("object is missing {0}")]
    MissingMetadata(&'static str),
}

impl Error {
    /// Shorthand for a blocked state.
    pub fn blocked(reason: &'static str, message: impl Into<String>) -> Self {
        Error::Blocked { reason, message: message.into() }
    }

    /// Bounded reason for conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Blocked { reason, .. } => reason,
            Error::Provider(e) => e.reason(),
            Error::Kube(_) => "KubernetesError",
            Error::MissingMetadata(_) => "InvalidObject",
        }
    }

    /// True when retrying without a change can help (backoff); false waits for a change.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Blocked { .. } | Error::MissingMetadata(_) => false,
            Error::Provider(e) => e.is_transient(),
            Error::Kube(_) => true,
        }
    }
}

/// Redaction lives below the controller and the provider layers.
pub use crate::redact::redact;
