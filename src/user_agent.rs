//! Device type, OS family and browser family from a User-Agent, for flow filters
//! (docs/flows.md). A handful of substring rules written by hand: a full parser's
//! database (thousands of regular expressions) would outweigh the whole worker (design
//! §13), and a flow needs only the families traffic is split by. What it cannot tell:
//! iPads that send a desktop Safari User-Agent (iPadOS 13+ by default) count as macOS
//! desktops; browsers that copy another's User-Agent count as that one.

/// Kinds of device a flow can route by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Mobile,
    Tablet,
    Desktop,
}

/// Operating-system families a flow can route by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Windows,
    Macos,
    Ios,
    Android,
    Chromeos,
    Linux,
    Other,
}

/// Browser families a flow can route by (in-app browsers of Facebook and Instagram are
/// their own family: offers often treat them apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    Chrome,
    Safari,
    Firefox,
    Edge,
    Opera,
    Samsung,
    Yandex,
    Facebook,
    Instagram,
    Other,
}

/// Configuration names of each family, as `(name, value)`.
pub const DEVICES: &[(&str, Device)] = &[
    ("mobile", Device::Mobile),
    ("tablet", Device::Tablet),
    ("desktop", Device::Desktop),
];
pub const OSES: &[(&str, Os)] = &[
    ("windows", Os::Windows),
    ("macos", Os::Macos),
    ("ios", Os::Ios),
    ("android", Os::Android),
    ("chromeos", Os::Chromeos),
    ("linux", Os::Linux),
    ("other", Os::Other),
];
pub const BROWSERS: &[(&str, Browser)] = &[
    ("chrome", Browser::Chrome),
    ("safari", Browser::Safari),
    ("firefox", Browser::Firefox),
    ("edge", Browser::Edge),
    ("opera", Browser::Opera),
    ("samsung", Browser::Samsung),
    ("yandex", Browser::Yandex),
    ("facebook", Browser::Facebook),
    ("instagram", Browser::Instagram),
    ("other", Browser::Other),
];

/// What a User-Agent says about its device, OS and browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentClass {
    pub device: Device,
    pub os: Os,
    pub browser: Browser,
}

impl AgentClass {
    /// The device type, OS family and browser family by their configuration names, as
    /// the click row keeps them for reports (docs/report.md).
    pub fn names(self) -> [&'static str; 3] {
        fn name<T: PartialEq>(table: &[(&'static str, T)], value: T) -> &'static str {
            table
                .iter()
                .find(|(_, known)| *known == value)
                .map_or("other", |(name, _)| name)
        }
        [
            name(DEVICES, self.device),
            name(OSES, self.os),
            name(BROWSERS, self.browser),
        ]
    }
}

fn has_any(text: &str, markers: &[&str]) -> bool {
    markers.iter().any(|marker| text.contains(marker))
}

/// Classifies a User-Agent (none or empty: a desktop of family "other").
pub fn classify(user_agent: Option<&str>) -> AgentClass {
    let text = user_agent.unwrap_or_default().to_ascii_lowercase();
    let android = text.contains("android");
    // Android tablets leave "Mobile" out of their User-Agent (Google's guidance).
    let device = if has_any(&text, &["ipad", "tablet", "kindle", "silk/", "playbook"])
        || (android && !text.contains("mobile"))
    {
        Device::Tablet
    } else if android
        || has_any(
            &text,
            &[
                "mobi",
                "iphone",
                "ipod",
                "windows phone",
                "blackberry",
                "opera mini",
            ],
        )
    {
        Device::Mobile
    } else {
        Device::Desktop
    };
    // iOS before macOS: iOS User-Agents say "like Mac OS X".
    let os = if text.contains("windows") {
        Os::Windows
    } else if has_any(&text, &["iphone", "ipad", "ipod"]) {
        Os::Ios
    } else if android {
        Os::Android
    } else if text.contains("cros") {
        Os::Chromeos
    } else if has_any(&text, &["mac os x", "macintosh"]) {
        Os::Macos
    } else if has_any(&text, &["linux", "x11"]) {
        Os::Linux
    } else {
        Os::Other
    };
    // Most specific first: in-app and Chromium-based browsers also say "Chrome" and
    // "Safari", and Chrome says "Safari".
    let browser = if has_any(&text, &["fban", "fbav", "fb_iab"]) {
        Browser::Facebook
    } else if text.contains("instagram") {
        Browser::Instagram
    } else if has_any(&text, &["edg/", "edge/", "edga/", "edgios/"]) {
        Browser::Edge
    } else if has_any(&text, &["opr/", "opera", "opt/"]) {
        Browser::Opera
    } else if text.contains("samsungbrowser") {
        Browser::Samsung
    } else if text.contains("yabrowser") {
        Browser::Yandex
    } else if has_any(&text, &["firefox/", "fxios/"]) {
        Browser::Firefox
    } else if has_any(&text, &["chrome/", "crios/", "chromium/"]) {
        Browser::Chrome
    } else if text.contains("safari/") || (os == Os::Ios && text.contains("applewebkit")) {
        Browser::Safari
    } else {
        Browser::Other
    };
    AgentClass {
        device,
        os,
        browser,
    }
}

/// The primary language subtag of the first (most preferred) range of an
/// `Accept-Language` header, lower case: `"de-CH,de;q=0.9"` → `"de"`.
pub fn primary_language(accept_language: Option<&str>) -> Option<String> {
    let first = accept_language?.split(',').next()?;
    let range = first.split(';').next()?.trim();
    let primary = range.split(['-', '_']).next()?.trim();
    let valid =
        (1..=8).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    valid.then(|| primary.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real User-Agents (as sent by the browsers named), and what they must classify as.
    const AGENTS: &[(&str, Device, Os, Browser)] = &[
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
            Device::Desktop, Os::Windows, Browser::Chrome,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
            Device::Desktop, Os::Windows, Browser::Edge,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
            Device::Desktop, Os::Windows, Browser::Firefox,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            Device::Desktop, Os::Macos, Browser::Safari,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
            Device::Desktop, Os::Macos, Browser::Opera,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
            Device::Desktop, Os::Linux, Browser::Chrome,
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
            Device::Desktop, Os::Chromeos, Browser::Chrome,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            Device::Mobile, Os::Ios, Browser::Safari,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
            Device::Mobile, Os::Ios, Browser::Chrome,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15",
            Device::Mobile, Os::Ios, Browser::Firefox,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.41.108;FBBV/123;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
            Device::Mobile, Os::Ios, Browser::Facebook,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 337.0.3.23.54 (iPhone15,2; iOS 17_5; en_US; en; scale=3.00; 1179x2556; 612368318)",
            Device::Mobile, Os::Ios, Browser::Instagram,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            Device::Tablet, Os::Ios, Browser::Safari,
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
            Device::Mobile, Os::Android, Browser::Chrome,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
            Device::Mobile, Os::Android, Browser::Samsung,
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
            Device::Tablet, Os::Android, Browser::Chrome,
        ),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0",
            Device::Mobile, Os::Android, Browser::Firefox,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240605.024; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.71 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/471.0.0.35.80;]",
            Device::Mobile, Os::Android, Browser::Facebook,
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; M2101K6G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 YaBrowser/24.4.4.97.00 SA/3 Mobile Safari/537.36",
            Device::Mobile, Os::Android, Browser::Yandex,
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36 EdgA/126.0.2592.80",
            Device::Mobile, Os::Android, Browser::Edge,
        ),
        (
            "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/537.36 (KHTML, like Gecko) Silk/3.68 like Chrome/39.0.2171.93 Safari/537.36",
            Device::Tablet, Os::Android, Browser::Chrome,
        ),
        (
            "curl/8.5.0",
            Device::Desktop, Os::Other, Browser::Other,
        ),
    ];

    #[test]
    fn real_user_agents() {
        for (agent, device, os, browser) in AGENTS {
            let class = classify(Some(agent));
            assert_eq!(
                (class.device, class.os, class.browser),
                (*device, *os, *browser),
                "{agent}"
            );
        }
        let names = classify(Some(AGENTS[7].0)).names();
        assert_eq!(names, ["mobile", "ios", "safari"]);
        let none = classify(None);
        assert_eq!(
            (none.device, none.os, none.browser),
            (Device::Desktop, Os::Other, Browser::Other)
        );
    }

    #[test]
    fn primary_language_of_accept_language() {
        assert_eq!(
            primary_language(Some("de-CH,de;q=0.9,en;q=0.8")).as_deref(),
            Some("de")
        );
        assert_eq!(primary_language(Some(" EN_us ")).as_deref(), Some("en"));
        assert_eq!(primary_language(Some("fr;q=0.5")).as_deref(), Some("fr"));
        assert_eq!(primary_language(Some("*")), None);
        assert_eq!(primary_language(Some("")), None);
        assert_eq!(primary_language(None), None);
    }
}
