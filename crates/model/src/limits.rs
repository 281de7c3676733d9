//! Input limits: every bound the parser and validator enforce.
//!
//! Each limit is rejected with a clear error rather than allowed to exhaust
//! memory, stack or time.

/// The largest config document accepted, in bytes (128 MiB).
pub const MAX_CONFIG_BYTES: usize = 128 * 1024 * 1024;

/// The deepest JSON nesting (arrays and objects) accepted anywhere in a
/// document. The parser checks it without recursion before deserialising,
/// which bounds the recursion of deserialisation itself.
pub const MAX_JSON_DEPTH: usize = 256;

/// The deepest targeting expression accepted (DESIGN §1).
pub const MAX_EXPRESSION_DEPTH: usize = 64;

/// The largest compiled size of one regular expression, in bytes.
pub const MAX_REGEX_SIZE: usize = 1024 * 1024;

/// The longest regular expression pattern, in bytes.
pub const MAX_PATTERN_LEN: usize = 4096;

/// The longest unit (targeting key), in characters (DESIGN §2.2).
pub const MAX_UNIT_LEN: usize = 100;
