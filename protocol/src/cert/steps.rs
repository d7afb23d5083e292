//! The checks a verdict is made of, and what each one says to a citizen in both
//! languages the city publishes in. A verdict carries every check in the order the
//! verifier runs them: the ones that passed, the one that failed, and the ones not
//! reached (or that could not be made), so an app can show "which check failed, in
//! words" and an inspector can read the whole trail.

use serde::{Deserialize, Serialize};

use super::city::Text;
use super::dcc::DccKind;
use super::format_rfc3339;

/// One check of a verdict. The snake-case names (`signature`, …) are stable: apps
/// and inspectors' scripts key on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerdictCheck {
    /// The code has a certificate prefix at all.
    Format,
    /// base45, zlib, CBOR and COSE all read without damage.
    Integrity,
    /// The content follows its format's rules (for an EU DCC: the DCC schema and the
    /// EU value sets).
    Content,
    /// The signing key is on the trust list.
    Issuer,
    /// The signature verifies with that key.
    Signature,
    /// The certificate names the key's issuer and was issued while the key was valid.
    IssuerMatch,
    /// The issuer may issue this type of certificate.
    AllowedType,
    /// The status list does not mark it revoked.
    Revocation,
    /// The clock is within its validity period.
    Validity,
}

impl VerdictCheck {
    /// Every check, in the order the verifier runs them.
    pub const ALL: [Self; 9] = [
        Self::Format,
        Self::Integrity,
        Self::Content,
        Self::Issuer,
        Self::Signature,
        Self::IssuerMatch,
        Self::AllowedType,
        Self::Revocation,
        Self::Validity,
    ];

    /// The stable code (`issuer_match`), as in the JSON.
    pub fn code(self) -> &'static str {
        match self {
            Self::Format => "format",
            Self::Integrity => "integrity",
            Self::Content => "content",
            Self::Issuer => "issuer",
            Self::Signature => "signature",
            Self::IssuerMatch => "issuer_match",
            Self::AllowedType => "allowed_type",
            Self::Revocation => "revocation",
            Self::Validity => "validity",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    /// Not reached because an earlier check failed, or not possible here (no status
    /// list yet); the words say which.
    NotChecked,
}

/// One check's outcome: what a citizen reads (`words`), and for an inspector the
/// technical cause when there is one (`detail`, English).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerdictStep {
    pub code: VerdictCheck,
    pub status: CheckStatus,
    pub words: Text,
    pub detail: Option<String>,
}

/// What the sentences call the certificate once its kind is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    Code,
    City,
    Dcc(DccKind),
}

impl Subject {
    fn en(self) -> &'static str {
        match self {
            Self::Code => "This code",
            Self::City => "This certificate",
            Self::Dcc(DccKind::Test) => "This test result",
            Self::Dcc(DccKind::Vaccination) => "This vaccination certificate",
            Self::Dcc(DccKind::Recovery) => "This recovery certificate",
        }
    }

    fn zh(self) -> &'static str {
        match self {
            Self::Code => "此條碼",
            Self::City => "此證明",
            Self::Dcc(DccKind::Test) => "此檢驗結果",
            Self::Dcc(DccKind::Vaccination) => "此疫苗接種證明",
            Self::Dcc(DccKind::Recovery) => "此康復證明",
        }
    }
}

/// A time as a citizen in Taipei reads it: local date and minute.
fn taipei_time(secs: i64) -> (String, String) {
    let local = format_rfc3339(secs.saturating_add(8 * 3600));
    let shown = format!("{} {}", &local[..10], &local[11..16]);
    (format!("{shown} (Taipei time)"), format!("{shown}（臺北時間）"))
}

fn text(en: String, zh: String) -> Text {
    Text { zh, en }
}

/// The sentences, one function per outcome. English first, then Traditional Chinese.
pub(crate) mod words {
    use super::{Subject, Text, taipei_time, text};

    pub fn is_certificate() -> Text {
        Text::new("這是證明的條碼。", "This is a certificate code.")
    }
    pub fn not_certificate() -> Text {
        Text::new("這個條碼不是證明。", "This code is not a certificate.")
    }
    pub fn intact() -> Text {
        Text::new("證明的資料完整。", "The certificate's data is intact.")
    }
    pub fn damaged() -> Text {
        Text::new("證明的資料已損壞或遭竄改。", "The certificate's data is damaged or was altered.")
    }
    pub fn content_ok(s: Subject) -> Text {
        text(format!("{} follows the rules of its format.", s.en()), format!("{}的內容符合格式規定。", s.zh()))
    }
    pub fn content_bad(s: Subject) -> Text {
        text(format!("{} is not filled in as its format requires.", s.en()), format!("{}的內容不符合格式規定。", s.zh()))
    }
    pub fn not_on_eu_lists(s: Subject) -> Text {
        text(
            format!("{} holds a code that is not on the EU's official lists.", s.en()),
            format!("{}含有不在歐盟官方清單上的代碼。", s.zh()),
        )
    }
    pub fn trusted_key(name: &str) -> Text {
        text(format!("Signed with a key of {name}, which the city trusts."), format!("以市府信任的{name}金鑰簽署。"))
    }
    pub fn untrusted_key() -> Text {
        Text::new("此證明不是由市府信任的發證單位所簽署。", "This certificate was not signed by any issuer the city trusts.")
    }
    pub fn unusable_key(name: &str) -> Text {
        text(format!("The city's trust list holds an unusable key for {name}."), format!("市府信任清單中{name}的金鑰無法使用。"))
    }
    pub fn signature_ok(name: &str) -> Text {
        text(format!("The signature matches {name}."), format!("簽章與{name}相符。"))
    }
    pub fn signature_bad() -> Text {
        Text::new(
            "此證明的簽章與任何受信任的發證單位都不相符：可能遭偽造或竄改。",
            "This certificate's signature does not match any trusted issuer: it was forged or altered.",
        )
    }
    pub fn issuer_ok(s: Subject, name: &str) -> Text {
        text(
            format!("{} was issued by {name} while its key was valid.", s.en()),
            format!("{}由{name}於金鑰有效期間簽發。", s.zh()),
        )
    }
    pub fn claims_other_issuer(s: Subject, name: &str) -> Text {
        text(
            format!("{} claims another issuer than {name}, whose key signed it.", s.en()),
            format!("{}聲稱的發證單位不是簽署它的{name}。", s.zh()),
        )
    }
    pub fn key_not_valid_then(s: Subject, name: &str) -> Text {
        text(
            format!("{} was issued when the key of {name} was not valid.", s.en()),
            format!("{}簽發時，{name}的金鑰不在有效期間內。", s.zh()),
        )
    }
    pub fn type_allowed(name: &str, cert_type: &str) -> Text {
        text(format!("{name} may issue {cert_type} certificates."), format!("{name}可以簽發「{cert_type}」類證明。"))
    }
    pub fn type_not_allowed(name: &str, cert_type: &str) -> Text {
        text(format!("{name} may not issue {cert_type} certificates."), format!("{name}不得簽發「{cert_type}」類證明。"))
    }
    pub fn not_revoked(as_of: i64) -> Text {
        let (en, zh) = taipei_time(as_of);
        text(format!("Not revoked, by the status list of {en}."), format!("未被撤銷（依{zh}的狀態清單）。"))
    }
    pub fn revoked(name: &str) -> Text {
        text(format!("{name} has revoked this certificate."), format!("{name}已撤銷此證明。"))
    }
    pub fn no_status_list() -> Text {
        Text::new("尚未取得狀態清單，未檢查是否已撤銷。", "Revocation was not checked: no status list yet.")
    }
    pub fn revocation_not_listed() -> Text {
        Text::new(
            "市府的狀態清單不涵蓋歐盟證明，未檢查是否已撤銷。",
            "Revocation was not checked: the city's status list does not cover EU certificates.",
        )
    }
    pub fn valid_until(s: Subject, exp: Option<i64>) -> Text {
        match exp {
            None => text(format!("{} does not expire.", s.en()), format!("{}沒有到期日。", s.zh())),
            Some(exp) => {
                let (en, zh) = taipei_time(exp);
                text(format!("{} is valid until {en}.", s.en()), format!("{}有效至{zh}。", s.zh()))
            }
        }
    }
    pub fn expired(s: Subject, exp: i64) -> Text {
        let (en, zh) = taipei_time(exp);
        text(format!("{} is past its validity: it expired {en}.", s.en()), format!("{}已超過有效期限：於{zh}到期。", s.zh()))
    }
    pub fn not_yet_valid(s: Subject, from: i64) -> Text {
        let (en, zh) = taipei_time(from);
        text(format!("{} is not valid yet: it is valid from {en}.", s.en()), format!("{}尚未生效：自{zh}起生效。", s.zh()))
    }
    pub fn bad_times(s: Subject) -> Text {
        text(format!("{} carries validity times that cannot be read.", s.en()), format!("{}的有效期間無法判讀。", s.zh()))
    }
    pub fn not_reached() -> Text {
        Text::new("前一項檢查未通過，因此未檢查。", "Not checked, because an earlier check failed.")
    }
}

/// The steps of one verdict as they are made; [`Trail::finish`] adds the checks not
/// reached.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    steps: Vec<VerdictStep>,
}

impl Trail {
    pub fn pass(&mut self, code: VerdictCheck, words: Text) {
        self.push(code, CheckStatus::Passed, words, None);
    }

    pub fn not_checked(&mut self, code: VerdictCheck, words: Text) {
        self.push(code, CheckStatus::NotChecked, words, None);
    }

    pub fn fail(&mut self, code: VerdictCheck, words: Text, detail: Option<String>) {
        self.push(code, CheckStatus::Failed, words, detail);
    }

    fn push(&mut self, code: VerdictCheck, status: CheckStatus, words: Text, detail: Option<String>) {
        self.steps.push(VerdictStep { code, status, words, detail });
    }

    /// The failed step's words, if one failed.
    pub fn failure(&self) -> Option<&VerdictStep> {
        self.steps.iter().find(|s| s.status == CheckStatus::Failed)
    }

    /// Every check in order; those never made are "not checked".
    pub fn finish(mut self) -> Vec<VerdictStep> {
        for code in VerdictCheck::ALL {
            if !self.steps.iter().any(|s| s.code == code) {
                self.push(code, CheckStatus::NotChecked, words::not_reached(), None);
            }
        }
        self.steps.sort_by_key(|s| VerdictCheck::ALL.iter().position(|c| *c == s.code));
        self.steps
    }
}
