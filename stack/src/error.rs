//! Socket-level errors shared by TCP and UDP, each mapped to the errno Linux gives.

/// An error a socket call returns. `errno()` gives the value Linux would set.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// EAGAIN: the call would block.
    WouldBlock,
    /// EINVAL: invalid argument or call in the wrong state.
    InvalidInput,
    /// ENOTCONN
    NotConnected,
    /// EISCONN
    AlreadyConnected,
    /// EALREADY: a non-blocking connect is already under way.
    Already,
    /// EINPROGRESS: a non-blocking connect has started.
    InProgress,
    /// EADDRINUSE
    AddrInUse,
    /// EADDRNOTAVAIL
    AddrNotAvailable,
    /// ECONNREFUSED
    ConnectionRefused,
    /// ECONNRESET
    ConnectionReset,
    /// ECONNABORTED
    ConnectionAborted,
    /// ETIMEDOUT
    TimedOut,
    /// EPIPE
    BrokenPipe,
    /// EHOSTUNREACH
    HostUnreachable,
    /// ENETUNREACH
    NetUnreachable,
    /// EMSGSIZE
    MessageTooLong,
    /// ENOBUFS
    NoBufferSpace,
    /// EBADF: the handle does not name a live socket.
    BadHandle,
    /// EOPNOTSUPP
    NotSupported,
    /// EACCES (e.g. broadcast without SO_BROADCAST)
    PermissionDenied,
    /// EDESTADDRREQ: a datagram with no destination on a socket not connected (raw sockets).
    DestinationRequired,
    /// ENOPROTOOPT: an option the socket's protocol does not have.
    NoProtocolOption,
}

impl Error {
    /// The errno Linux sets for this error.
    pub fn errno(self) -> i32 {
        use Error::*;
        match self {
            WouldBlock => libc::EAGAIN,
            InvalidInput => libc::EINVAL,
            NotConnected => libc::ENOTCONN,
            AlreadyConnected => libc::EISCONN,
            Already => libc::EALREADY,
            InProgress => libc::EINPROGRESS,
            AddrInUse => libc::EADDRINUSE,
            AddrNotAvailable => libc::EADDRNOTAVAIL,
            ConnectionRefused => libc::ECONNREFUSED,
            ConnectionReset => libc::ECONNRESET,
            ConnectionAborted => libc::ECONNABORTED,
            TimedOut => libc::ETIMEDOUT,
            BrokenPipe => libc::EPIPE,
            HostUnreachable => libc::EHOSTUNREACH,
            NetUnreachable => libc::ENETUNREACH,
            MessageTooLong => libc::EMSGSIZE,
            NoBufferSpace => libc::ENOBUFS,
            BadHandle => libc::EBADF,
            NotSupported => libc::EOPNOTSUPP,
            PermissionDenied => libc::EACCES,
            DestinationRequired => libc::EDESTADDRREQ,
            NoProtocolOption => libc::ENOPROTOOPT,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?} (errno {})", self, self.errno())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;
