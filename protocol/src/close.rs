//! WebSocket close codes and what the client does on each (the contract's table).

use std::fmt;

/// A close code as Taskwire means it. Codes outside the table are kept as `Other` and
/// treated like a dropped connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    Normal,
    GoingAway,
    Abnormal,
    TooBig,
    ServerError,
    ProtocolViolation,
    Unauthorized,
    Forbidden,
    AuthTimeout,
    LoggedOutEverywhere,
    TooMany,
    /// The client gave up on this socket (no answer in time, browser offline, socket
    /// error): sent by the client only, in the application range browsers allow for
    /// `WebSocket.close`.
    GaveUp,
    Other(u16),
}

/// The client's answer to a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Do not reconnect.
    StayClosed { report: bool },
    /// Reconnect with the usual backoff.
    Reconnect { report: bool },
    /// Reconnect, but only after the longest backoff.
    ReconnectAfterMaxBackoff,
    /// Refresh the access token once over HTTP; if that fails, go to the login page.
    RefreshThenLogin,
    /// Signed out everywhere: clear the session and go to the login page.
    ClearSession,
}

impl CloseCode {
    pub fn from_u16(code: u16) -> Self {
        match code {
            1000 => Self::Normal,
            1001 => Self::GoingAway,
            1006 => Self::Abnormal,
            1009 => Self::TooBig,
            1011 => Self::ServerError,
            4400 => Self::ProtocolViolation,
            4401 => Self::Unauthorized,
            4403 => Self::Forbidden,
            4408 => Self::AuthTimeout,
            4409 => Self::LoggedOutEverywhere,
            4429 => Self::TooMany,
            4000 => Self::GaveUp,
            other => Self::Other(other),
        }
    }

    pub fn as_u16(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::GoingAway => 1001,
            Self::Abnormal => 1006,
            Self::TooBig => 1009,
            Self::ServerError => 1011,
            Self::ProtocolViolation => 4400,
            Self::Unauthorized => 4401,
            Self::Forbidden => 4403,
            Self::AuthTimeout => 4408,
            Self::LoggedOutEverywhere => 4409,
            Self::TooMany => 4429,
            Self::GaveUp => 4000,
            Self::Other(code) => code,
        }
    }

    pub fn action(self) -> CloseAction {
        match self {
            Self::Normal => CloseAction::StayClosed { report: false },
            Self::Forbidden => CloseAction::StayClosed { report: true },
            Self::GoingAway | Self::Abnormal | Self::ServerError | Self::AuthTimeout => {
                CloseAction::Reconnect { report: false }
            }
            Self::TooBig | Self::ProtocolViolation | Self::GaveUp => {
                CloseAction::Reconnect { report: true }
            }
            Self::Unauthorized => CloseAction::RefreshThenLogin,
            Self::LoggedOutEverywhere => CloseAction::ClearSession,
            Self::TooMany => CloseAction::ReconnectAfterMaxBackoff,
            Self::Other(_) => CloseAction::Reconnect { report: true },
        }
    }
}

/// The code as a number, as close frames and the app's messages show it.
impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_the_contracts_action() {
        let table = [
            (1000, CloseAction::StayClosed { report: false }),
            (1001, CloseAction::Reconnect { report: false }),
            (1006, CloseAction::Reconnect { report: false }),
            (1011, CloseAction::Reconnect { report: false }),
            (1009, CloseAction::Reconnect { report: true }),
            (4400, CloseAction::Reconnect { report: true }),
            (4401, CloseAction::RefreshThenLogin),
            (4403, CloseAction::StayClosed { report: true }),
            (4408, CloseAction::Reconnect { report: false }),
            (4409, CloseAction::ClearSession),
            (4429, CloseAction::ReconnectAfterMaxBackoff),
            (4000, CloseAction::Reconnect { report: true }),
            (3999, CloseAction::Reconnect { report: true }),
        ];
        for (code, action) in table {
            let parsed = CloseCode::from_u16(code);
            assert_eq!(parsed.as_u16(), code);
            assert_eq!(parsed.action(), action, "close code {code}");
            assert_eq!(parsed.to_string(), code.to_string());
        }
    }

    #[test]
    fn the_clients_own_code_is_not_taken_for_an_unknown_one() {
        assert_eq!(CloseCode::from_u16(4000), CloseCode::GaveUp);
        assert_eq!(CloseCode::GaveUp.as_u16(), 4000);
    }
}
