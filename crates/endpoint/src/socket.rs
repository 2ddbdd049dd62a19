//! Opening UDP sockets with the options QUIC wants, before they are bound.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tracing::debug;

/// How [`bind_udp`] configures a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    /// The receive buffer to ask the kernel for, in bytes; 0 keeps the
    /// kernel's default. Default 4 MiB: the kernel's usual ~208 KiB drops
    /// datagrams when many handshakes arrive at once.
    pub recv_buffer: usize,
    /// The send buffer to ask the kernel for, in bytes; 0 keeps the
    /// kernel's default. Default 4 MiB, room for several GSO batches.
    pub send_buffer: usize,
    /// For an IPv6 address, whether the socket also carries IPv4 (as
    /// IPv4-mapped addresses), i.e. `IPV6_V6ONLY` off. Matters for `[::]`;
    /// ignored for IPv4 addresses. Default true.
    pub dual_stack: bool,
    /// Whether to set `SO_REUSEPORT`, so that several sockets (one per
    /// endpoint or thread) share the port and the kernel spreads flows
    /// across them. Unix only. Default false.
    pub reuse_port: bool,
}

impl SocketConfig {
    /// The default size of both socket buffers: 4 MiB.
    pub const DEFAULT_BUFFER: usize = 4 * 1024 * 1024;
}

impl Default for SocketConfig {
    fn default() -> Self {
        Self {
            recv_buffer: Self::DEFAULT_BUFFER,
            send_buffer: Self::DEFAULT_BUFFER,
            dual_stack: true,
            reuse_port: false,
        }
    }
}

/// Opens a non-blocking UDP socket configured by `config` and binds it to
/// `addr` (port 0 picks a free port).
///
/// Buffer sizes are requests: the kernel may grant less (Linux caps them
/// at `net.core.rmem_max` / `wmem_max`) or refuse them, which is logged at
/// debug level and not an error; read the granted sizes back with
/// `socket2::SockRef::from(&socket).recv_buffer_size()`. Where the
/// platform cannot turn `IPV6_V6ONLY` off, a dual-stack request is logged
/// and the socket stays IPv6-only.
///
/// # Errors
///
/// Fails if the socket cannot be created or bound (address in use, address
/// not available), if `reuse_port` is asked for where it is not supported
/// (`Unsupported`), or if an option the caller asked for explicitly
/// (IPv6-only, reuse-port, non-blocking) cannot be set.
pub fn bind_udp(addr: SocketAddr, config: &SocketConfig) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        if config.dual_stack {
            if let Err(error) = socket.set_only_v6(false) {
                debug!(%addr, %error, "dual-stack refused, the socket stays IPv6-only");
            }
        } else {
            socket.set_only_v6(true)?;
        }
    }
    if config.reuse_port {
        set_reuse_port(&socket)?;
    }
    set_buffers(&socket, config);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Gives a socket the caller bound itself what [`bind_udp`] gives its
/// sockets after binding: non-blocking mode and `config`'s buffer sizes
/// (requests, as in `bind_udp`). `dual_stack` and `reuse_port` take effect
/// only before binding, so they are the caller's to set and are ignored
/// here.
///
/// # Errors
///
/// Fails if the socket cannot be made non-blocking.
pub fn configure_bound(socket: &UdpSocket, config: &SocketConfig) -> io::Result<()> {
    let socket = SockRef::from(socket);
    set_buffers(&socket, config);
    socket.set_nonblocking(true)
}

fn set_buffers(socket: &Socket, config: &SocketConfig) {
    if config.recv_buffer > 0
        && let Err(error) = socket.set_recv_buffer_size(config.recv_buffer)
    {
        debug!(requested = config.recv_buffer, %error, "receive buffer refused");
    }
    if config.send_buffer > 0
        && let Err(error) = socket.set_send_buffer_size(config.send_buffer)
    {
        debug!(requested = config.send_buffer, %error, "send buffer refused");
    }
    // Linux reports twice what it granted (half is its bookkeeping).
    debug!(
        requested_recv = config.recv_buffer,
        granted_recv = socket.recv_buffer_size().ok(),
        requested_send = config.send_buffer,
        granted_send = socket.send_buffer_size().ok(),
        "udp socket buffers"
    );
}

#[cfg(all(
    unix,
    not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    ))
))]
fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(not(all(
    unix,
    not(any(
        target_os = "solaris",
        target_os = "illumos",
        target_os = "cygwin",
        target_os = "nuttx",
        target_os = "wasi"
    ))
)))]
fn set_reuse_port(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "SO_REUSEPORT is not supported on this platform",
    ))
}
