//! Hostile peers: scripted peers that break the RFC's rules, or follow
//! them at a cost to us, against real endpoints on the simulated network.
//! Each test asserts the defence and a stated bound on the memory it may
//! cost.

mod aead_limits;
mod cids;
mod replay;
