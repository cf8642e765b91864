//! Helpers shared by wfhost plugin components.
