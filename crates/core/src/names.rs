//! Validated names. Each type can only be built through `parse`, so a value in hand is known
//! to match Svix's rules: 1 to N letters, digits and a few punctuation characters: `-_.` for
//! most, `-_.:+` for channels, `-_./\#` for tags.

use std::fmt;

/// Why a name was refused; the text is shown to API users as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters long")]
    TooLong { max: usize },
    #[error("may only contain letters, digits and {0}")]
    BadCharacter(&'static str),
}

fn check(s: &str, max: usize, punctuation: &[u8], described: &'static str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.chars().count() > max {
        return Err(NameError::TooLong { max });
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || punctuation.contains(&b)) {
        return Err(NameError::BadCharacter(described));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        name_type!($(#[$doc])* $name, $max, b"-_.", "'-', '_' and '.'");
    };
    ($(#[$doc:meta])* $name:ident, $max:expr, $punctuation:expr, $described:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(s: &str) -> Result<Self, NameError> {
                check(s, $max, $punctuation, $described)?;
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// An event type name such as `invoice.paid`.
    EventTypeName, 256
);
name_type!(
    /// A caller-chosen unique id of an application or endpoint, usable wherever its id is.
    Uid, 256
);
name_type!(
    /// A channel: an extra routing dimension a message and an endpoint can share.
    Channel, 128, b"-_.:+", "'-', '_', '.', ':' and '+'"
);
name_type!(
    /// A message's tag, to find it by (and its attempts).
    Tag, 128, b"-_./\\#", "'-', '_', '.', '/', '\\' and '#'"
);
name_type!(
    /// A message's caller-chosen `eventId`, unique per application.
    EventId, 256
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_svix_rules() {
        assert!(EventTypeName::parse("invoice.paid").is_ok());
        assert!(EventTypeName::parse("a-b_c.D9").is_ok());
        assert_eq!(EventTypeName::parse(""), Err(NameError::Empty));
        assert_eq!(EventTypeName::parse("has space"), Err(NameError::BadCharacter("'-', '_' and '.'")));
        assert!(Channel::parse("project:1+2").is_ok());
        assert!(EventTypeName::parse("project:1").is_err());
        assert!(Tag::parse("team/a\\b#1").is_ok());
        assert!(Tag::parse("a:b").is_err());
        assert_eq!(Channel::parse(&"x".repeat(129)), Err(NameError::TooLong { max: 128 }));
        assert!(Channel::parse(&"x".repeat(128)).is_ok());
    }
}
