//! Subscription matching: which endpoints a message is delivered to.

/// The routing-relevant part of an endpoint.
pub struct Subscription<'a> {
    pub disabled: bool,
    /// `None` or empty: every event type.
    pub event_types: Option<&'a [String]>,
    /// `None` or empty: every message, whatever its channels.
    pub channels: Option<&'a [String]>,
}

/// Whether a message of `event_type` on `channels` goes to the endpoint.
///
/// An endpoint with channels only receives messages that share at least one of them
/// (Svix semantics); an endpoint without channels receives all.
pub fn matches(sub: &Subscription<'_>, event_type: &str, channels: Option<&[String]>) -> bool {
    if sub.disabled {
        return false;
    }
    let type_ok = match sub.event_types {
        None => true,
        Some(types) => types.is_empty() || types.iter().any(|t| t == event_type),
    };
    let channel_ok = match sub.channels {
        None => true,
        Some([]) => true,
        Some(wanted) => channels.unwrap_or_default().iter().any(|c| wanted.contains(c)),
    };
    type_ok && channel_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn empty_filters_match_everything() {
        let sub = Subscription { disabled: false, event_types: None, channels: None };
        assert!(matches(&sub, "a.b", None));
        let empty: Vec<String> = vec![];
        let sub = Subscription { disabled: false, event_types: Some(&empty), channels: Some(&empty) };
        assert!(matches(&sub, "a.b", Some(&s(&["x"]))));
    }

    #[test]
    fn event_types_and_channels_filter() {
        let types = s(&["user.created"]);
        let chans = s(&["eu", "us"]);
        let sub = Subscription { disabled: false, event_types: Some(&types), channels: Some(&chans) };
        assert!(matches(&sub, "user.created", Some(&s(&["us"]))));
        assert!(!matches(&sub, "user.deleted", Some(&s(&["us"]))));
        assert!(!matches(&sub, "user.created", Some(&s(&["asia"]))));
        assert!(!matches(&sub, "user.created", None));
    }

    #[test]
    fn disabled_never_matches() {
        let sub = Subscription { disabled: true, event_types: None, channels: None };
        assert!(!matches(&sub, "a", None));
    }
}
