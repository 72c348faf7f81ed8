//! bolna.ai wire behaviour.
