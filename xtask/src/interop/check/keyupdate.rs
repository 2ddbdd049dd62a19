//! The runner's condition on `keyupdate`, read from the decrypted client
//! capture: the 1-RTT packets of each direction carry both key phases, so
//! one side updated its keys and the other answered (RFC 9001 §6).

use crate::interop::tshark::Datagram;

/// How many 1-RTT packets of one direction carried each key phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Phases {
    zero: usize,
    one: usize,
    /// Short-header packets whose key phase tshark could not read: it had
    /// no keys for them, or they did not open them.
    unread: usize,
}

impl Phases {
    fn of(datagrams: &[Datagram], from: &dyn Fn(&Datagram) -> bool) -> Self {
        let mut phases = Self::default();
        let short = datagrams
            .iter()
            .filter(|d| from(d))
            .flat_map(|d| &d.packets)
            .filter(|p| p.long_type.is_none());
        for packet in short {
            match packet.key_phase {
                Some(false) if !packet.decryption_failed => phases.zero += 1,
                Some(true) if !packet.decryption_failed => phases.one += 1,
                _ => phases.unread += 1,
            }
        }
        phases
    }

    fn both(self) -> bool {
        self.zero > 0 && self.one > 0
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} 1-RTT packets in key phase 0 and {} in key phase 1",
            self.zero, self.one
        )?;
        if self.unread > 0 {
            write!(
                f,
                " ({} whose key phase tshark could not read)",
                self.unread
            )?;
        }
        Ok(())
    }
}

/// RFC 9001 §6: the client's 1-RTT packets (`from_client`) and the
/// server's (`from_server`, as the proxy passed them on) each carried key
/// phase 0 and key phase 1: the keys were updated, and the peer of the
/// side that updated answered with its own new keys (RFC 9001 §6.2). Only
/// decrypted packets count: tshark reads the Key Phase bit under header
/// protection.
pub(super) fn key_phases(
    client: &[Datagram],
    from_client: &dyn Fn(&Datagram) -> bool,
    from_server: &dyn Fn(&Datagram) -> bool,
) -> Result<String, String> {
    let sent = Phases::of(client, from_client);
    let received = Phases::of(client, from_server);
    for (side, phases) in [("client", sent), ("server", received)] {
        if !phases.both() {
            return Err(format!(
                "the {side} sent {phases}: no key update in that direction"
            ));
        }
    }
    Ok(format!(
        "the client sent {sent}; the server sent {received}"
    ))
}

#[cfg(test)]
mod tests;
