//! The browser at a city web system's sign-in page, as the demo plays it over plain
//! HTTP (what the page's script does): start a login, keep the HttpOnly cookie, read
//! the frame and the number, show whose account it is about to enter, redeem on "Continue". Also the meeting room display's poll.

use taipei_protocol::login::{LoginRedeemed, LoginStarted, LoginStatus};
use taipei_protocol::meeting::{DisplayFrame, MeetingCreated};

use crate::portal::{http, reply_json as json};

#[derive(Debug)]
pub struct SignInPage {
    base: String,
    pub rid: String,
    cookies: Vec<String>,
}

fn cookies_of(reply: &reqwest::Response) -> Vec<String> {
    reply
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect()
}

impl SignInPage {
    pub async fn open(base_url: &str, system_id: &str) -> Result<Self, String> {
        let reply = http()?
            .post(format!("{base_url}/v1/login/start"))
            .header("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36")
            .json(&serde_json::json!({ "system_id": system_id }))
            .send()
            .await
            .map_err(|e| format!("login start: {e}"))?;
        let cookies = cookies_of(&reply);
        let started: LoginStarted = json(reply, "login start").await?;
        Ok(Self { base: base_url.to_owned(), rid: started.rid, cookies })
    }

    pub async fn status(&self) -> Result<LoginStatus, String> {
        let reply = http()?
            .get(format!("{}/v1/login/{}", self.base, self.rid))
            .header("Cookie", self.cookies.join("; "))
            .send()
            .await
            .map_err(|e| format!("login status: {e}"))?;
        json(reply, "login status").await
    }

    /// What the page shows once approved: whose account it is about to enter (masked),
    /// and the confirmation its "Continue" button sends.
    pub async fn account_to_confirm(&self) -> Result<(String, String), String> {
        let status = self.status().await?;
        match (status.account, status.confirm) {
            (Some(account), Some(confirm)) => Ok((account, confirm)),
            _ => Err(format!("the page is {}, not asking to confirm an account", status.state)),
        }
    }

    /// The "Continue" click after the person recognised the account.
    pub async fn redeem(&mut self, confirm: &str) -> Result<LoginRedeemed, String> {
        let reply = http()?
            .post(format!("{}/v1/login/{}/redeem", self.base, self.rid))
            .header("Cookie", self.cookies.join("; "))
            .json(&taipei_protocol::login::LoginConfirm { confirm: confirm.to_owned() })
            .send()
            .await
            .map_err(|e| format!("redeem: {e}"))?;
        self.cookies.extend(cookies_of(&reply));
        json(reply, "redeem").await
    }
}

/// What a meeting room's display shows now.
pub async fn room_display(base_url: &str, meeting: &MeetingCreated) -> Result<DisplayFrame, String> {
    let reply = http()?
        .get(format!("{base_url}/v1/meetings/{}/display", meeting.mid))
        .header("Authorization", format!("Bearer {}", meeting.display_token))
        .send()
        .await
        .map_err(|e| format!("room display: {e}"))?;
    json(reply, "room display").await
}
