//! `Debug` for types that hold a secret (a token, a one-time code, a nonce, a
//! certificate body): the other fields as usual, the secret ones as `<redacted>`, so a
//! `{:?}` in a log line, a panic message or a test failure never carries them.

/// `debug_redacted!(Type { shown, fields; secret, fields })` implements `Debug`.
#[macro_export]
macro_rules! debug_redacted {
    ($ty:ident { $($shown:ident),* ; $($secret:ident),+ }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($shown), &self.$shown))*
                    $(.field(stringify!($secret), &$crate::redact::Redacted))+
                    .finish()
            }
        }
    };
}

/// Prints as `<redacted>`.
pub struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use crate::api::AccessToken;
    use crate::login::{LoginConfirm, LoginStatus};
    use crate::meeting::MeetingCreated;
    use crate::wallet::{PickupCode, RedeemPickup};

    #[test]
    fn secrets_never_show_in_debug() {
        let shown = [
            format!("{:?}", AccessToken { access_token: "SECRET-1".into(), token_type: "DPoP".into(), expires_at_ms: 1 }),
            format!("{:?}", MeetingCreated { mid: "m".into(), display_token: "SECRET-2".into(), display_path: "/p".into() }),
            format!("{:?}", PickupCode { code: "SECRET-3".into(), certificate_id: "c".into(), expires_at_ms: 1 }),
            format!("{:?}", RedeemPickup { code: "SECRET-4".into() }),
            format!("{:?}", LoginConfirm { confirm: "SECRET-5".into() }),
            format!(
                "{:?}",
                LoginStatus {
                    rid: "r".into(),
                    state: "approved".into(),
                    frame: None,
                    frame_svg: None,
                    number: None,
                    account: Some("王*明".into()),
                    confirm: Some("SECRET-6".into()),
                    expires_at_ms: 1,
                }
            ),
        ];
        for text in &shown {
            assert!(!text.contains("SECRET"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
        assert!(shown[0].contains("DPoP") && shown[2].contains("certificate_id"));
    }
}
