//! Versions: lenient parsing and SemVer precedence.
