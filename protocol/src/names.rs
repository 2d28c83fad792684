//! Name rules. Checked by the relay at every entry point; exposed so clients can check early.

pub const MAX_USER_ID_LEN: usize = 128;
pub const MAX_EVENT_LEN: usize = 128;
pub const MAX_MID_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong {
        max: usize,
    },
    BadChar(char),
    /// `.` and `..`: as a path segment (`/api/v1/users/../key`) they name another resource.
    Reserved,
}

impl core::fmt::Display for NameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => write!(f, "must not be empty"),
            Self::TooLong { max } => write!(f, "must be at most {max} bytes"),
            Self::BadChar(c) => write!(f, "must not contain {c:?}"),
            Self::Reserved => write!(f, "must not be \".\" or \"..\""),
        }
    }
}

impl std::error::Error for NameError {}

/// User ids come from the customer's system: letters, digits and `_ - . @ :`, but not `.`
/// or `..`.
pub fn check_user_id(id: &str) -> Result<(), NameError> {
    if matches!(id, "." | "..") {
        return Err(NameError::Reserved);
    }
    check(id, MAX_USER_ID_LEN, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | ':')
    })
}

/// Event (message type) names: any printable text without control characters.
pub fn check_event(name: &str) -> Result<(), NameError> {
    check(name, MAX_EVENT_LEN, |c| !c.is_control())
}

/// A client message's idempotency key (`mid`): printable ASCII, no spaces.
pub fn check_mid(mid: &str) -> Result<(), NameError> {
    check(mid, MAX_MID_LEN, |c| c.is_ascii_graphic())
}

fn check(s: &str, max: usize, ok: impl Fn(char) -> bool) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.len() > max {
        return Err(NameError::TooLong { max });
    }
    match s.chars().find(|c| !ok(*c)) {
        Some(c) => Err(NameError::BadChar(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids() {
        assert!(check_user_id("alice_01@example.com").is_ok());
        assert_eq!(check_user_id(""), Err(NameError::Empty));
        assert_eq!(check_user_id("a/b"), Err(NameError::BadChar('/')));
        assert_eq!(check_user_id("."), Err(NameError::Reserved));
        assert_eq!(check_user_id(".."), Err(NameError::Reserved));
        assert!(check_user_id("...").is_ok());
        assert!(matches!(
            check_user_id(&"x".repeat(129)),
            Err(NameError::TooLong { .. })
        ));
    }

    #[test]
    fn events() {
        assert!(check_event("close").is_ok());
        assert!(check_event("聊天").is_ok());
        assert_eq!(check_event("a\nb"), Err(NameError::BadChar('\n')));
    }
}
