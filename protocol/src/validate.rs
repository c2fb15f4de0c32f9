//! Input rules both sides enforce: the app refuses early, the server refuses for sure.

/// Why a username, password or title was refused; the text is shown to people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("Usernames are 3 to 32 characters of a-z, 0-9, _ and -.")]
    Username,
    #[error("Passwords are 8 to 128 characters.")]
    Password,
    #[error("A task needs a title.")]
    EmptyTitle,
    #[error("Titles are at most 200 characters.")]
    LongTitle,
    #[error("Titles cannot contain control characters.")]
    ControlInTitle,
    #[error("Board names are 1 to 80 characters, without control characters.")]
    BoardName,
}

pub fn validate_username(name: &str) -> Result<(), ValidationError> {
    let ok = (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::Username)
    }
}

pub fn validate_password(password: &str) -> Result<(), ValidationError> {
    if (8..=128).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(ValidationError::Password)
    }
}

/// Trims a title and checks it: 1 to 200 characters, no control characters (a title is
/// one line of text; a stray NUL or escape sequence only ever hides what it says).
pub fn validate_title(title: &str) -> Result<&str, ValidationError> {
    let title = title.trim();
    let count = title.chars().count();
    if count == 0 {
        Err(ValidationError::EmptyTitle)
    } else if count > 200 {
        Err(ValidationError::LongTitle)
    } else if title.chars().any(char::is_control) {
        Err(ValidationError::ControlInTitle)
    } else {
        Ok(title)
    }
}

/// A board name, trimmed: 1 to 80 characters, none of them control characters.
pub fn validate_board_name(name: &str) -> Result<&str, ValidationError> {
    let name = name.trim();
    let count = name.chars().count();
    if (1..=80).contains(&count) && !name.chars().any(char::is_control) {
        Ok(name)
    } else {
        Err(ValidationError::BoardName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("alice_1-x").is_ok());
        for bad in ["al", "Alice", "a b c", &"a".repeat(33), "ålice"] {
            assert_eq!(
                validate_username(bad),
                Err(ValidationError::Username),
                "{bad}"
            );
        }
    }

    #[test]
    fn passwords() {
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(128)).is_ok());
        assert!(validate_password("1234567").is_err());
        assert!(validate_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn board_names_are_trimmed_and_bounded_in_characters() {
        assert_eq!(validate_board_name("  Launch "), Ok("Launch"));
        assert!(validate_board_name(&"é".repeat(80)).is_ok());
        for bad in ["", "   ", &"é".repeat(81), "Tab\there"] {
            assert_eq!(
                validate_board_name(bad),
                Err(ValidationError::BoardName),
                "{bad}"
            );
        }
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(validate_title("  Buy milk "), Ok("Buy milk"));
        assert_eq!(validate_title(" \t "), Err(ValidationError::EmptyTitle));
        assert_eq!(validate_title(""), Err(ValidationError::EmptyTitle));
        assert!(validate_title(&"é".repeat(200)).is_ok());
        assert_eq!(
            validate_title(&"x".repeat(201)),
            Err(ValidationError::LongTitle)
        );
        assert_eq!(
            validate_title("a\u{0}b"),
            Err(ValidationError::ControlInTitle)
        );
        assert_eq!(
            validate_title("a\u{1b}[31mb"),
            Err(ValidationError::ControlInTitle)
        );
        assert_eq!(
            validate_title("'; DROP TABLE tasks;--"),
            Ok("'; DROP TABLE tasks;--")
        );
    }
}
