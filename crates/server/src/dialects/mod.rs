//! Control-plane dialects: routes, request and response shapes, error
//! rendering. Every mutation ends in `Namespace::write`.

pub mod cloudbees;
pub mod confidence;
pub mod launchdarkly;
pub mod native;
