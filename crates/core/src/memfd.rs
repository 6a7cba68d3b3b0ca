//! TODO(issue 2): memfd
