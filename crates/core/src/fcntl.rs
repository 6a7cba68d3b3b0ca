//! TODO(issue 2): fcntl
