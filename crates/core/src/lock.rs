//! TODO(issue 2): lock
