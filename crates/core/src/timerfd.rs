//! TODO(issue 2): timerfd
