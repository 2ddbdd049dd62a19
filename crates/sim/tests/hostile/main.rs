//! Hostile peers: scripted peers and on-path parties that break the RFC's
//! rules, or follow them at a cost to us, against real endpoints on the
//! simulated network. Each test asserts the defence and, where memory is at
//! stake, a stated bound on what the victim holds.

mod aead_limits;
mod budgets;
mod cids;
mod early_zero_rtt;
mod replay;
