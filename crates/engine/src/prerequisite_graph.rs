//! How far chains of prerequisites may reach.

/// The longest chain of prerequisites (`a` requires `b` requires `c` ... this many times) validation
/// accepts, whatever limits it is given (see [`PrerequisiteLimits`](crate::PrerequisiteLimits)).
pub const MAX_PREREQUISITE_DEPTH: usize = 64;
