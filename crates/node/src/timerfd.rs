//! Placeholder: being ported (issue 11).
