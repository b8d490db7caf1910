//! flux-sim library.
