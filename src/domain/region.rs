//! Genesys Cloud regions: API host and login host per region.
//!
//! The table is the official SDKs' region list (docs/genesys-api.md §1.1). The login host is
//! the API host with `api.` replaced by `login.`; tokens come from the login host, never
//! from the API host. In configuration a region is written by its SDK id (`us_east_1`).

/// One Genesys Cloud region: its SDK identifier and API base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// The SDK region id used in configuration, e.g. `us_east_1`.
    pub id: &'static str,
    /// The API base URL, e.g. `https://api.mypurecloud.com`.
    pub api_base: &'static str,
}

/// Every region the official SDKs know (docs/genesys-api.md §1.1).
pub const REGIONS: &[Region] = &[
    Region {
        id: "us_east_1",
        api_base: "https://api.mypurecloud.com",
    },
    Region {
        id: "us_east_2",
        api_base: "https://api.use2.us-gov-pure.cloud",
    },
    Region {
        id: "us_west_2",
        api_base: "https://api.usw2.pure.cloud",
    },
    Region {
        id: "ca_central_1",
        api_base: "https://api.cac1.pure.cloud",
    },
    Region {
        id: "sa_east_1",
        api_base: "https://api.sae1.pure.cloud",
    },
    Region {
        id: "mx_central_1",
        api_base: "https://api.mxc1.pure.cloud",
    },
    Region {
        id: "eu_west_1",
        api_base: "https://api.mypurecloud.ie",
    },
    Region {
        id: "eu_west_2",
        api_base: "https://api.euw2.pure.cloud",
    },
    Region {
        id: "eu_central_1",
        api_base: "https://api.mypurecloud.de",
    },
    Region {
        id: "eu_central_2",
        api_base: "https://api.euc2.pure.cloud",
    },
    Region {
        id: "eusc_de_east_1",
        api_base: "https://api.edee1.eusc-pure.cloud",
    },
    Region {
        id: "me_central_1",
        api_base: "https://api.mec1.pure.cloud",
    },
    Region {
        id: "ap_south_1",
        api_base: "https://api.aps1.pure.cloud",
    },
    Region {
        id: "ap_southeast_1",
        api_base: "https://api.apse1.pure.cloud",
    },
    Region {
        id: "ap_southeast_2",
        api_base: "https://api.mypurecloud.com.au",
    },
    Region {
        id: "ap_northeast_1",
        api_base: "https://api.mypurecloud.jp",
    },
    Region {
        id: "ap_northeast_2",
        api_base: "https://api.apne2.pure.cloud",
    },
    Region {
        id: "ap_northeast_3",
        api_base: "https://api.apne3.pure.cloud",
    },
];

impl Region {
    /// Looks a region up by its SDK id (`us_east_1`; `-` is accepted for `_`) or by the
    /// host an admin knows it by: `mypurecloud.ie`, or any of its `api.`, `login.` or
    /// `apps.` hosts, with or without `https://`.
    pub fn from_id(id: &str) -> Option<Region> {
        let id = id.trim().to_ascii_lowercase();
        let wanted = id.replace('-', "_");
        if let Some(r) = REGIONS.iter().copied().find(|r| r.id == wanted) {
            return Some(r);
        }
        let host = id
            .split_once("://")
            .map_or(id.as_str(), |(_, rest)| rest)
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .trim_end_matches('.');
        let domain = ["api.", "login.", "apps."]
            .iter()
            .find_map(|p| host.strip_prefix(p))
            .unwrap_or(host);
        REGIONS
            .iter()
            .copied()
            .find(|r| r.domain() == domain && !domain.is_empty())
    }

    /// The region's domain, as in its web address (`mypurecloud.ie`).
    pub fn domain(&self) -> &'static str {
        self.api_base
            .strip_prefix("https://api.")
            .unwrap_or(self.api_base)
    }

    /// The login (token) base URL: the API host with `//api.` replaced by `//login.`.
    pub fn login_base(&self) -> String {
        login_base_for(self.api_base)
    }

    /// All region ids with their domains, comma separated, for error messages.
    pub fn known_ids() -> String {
        REGIONS
            .iter()
            .map(|r| format!("{} ({})", r.id, r.domain()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Derives a login base from an API base the way the Go SDK does (`//api.` → `//login.`).
pub fn login_base_for(api_base: &str) -> String {
    api_base.replacen("//api.", "//login.", 1)
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id)
    }
}

impl<'de> serde::Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        Region::from_id(&id).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown region {id:?}; expected one of {}",
                Region::known_ids()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_host_replaces_api_prefix() {
        let r = Region::from_id("eu_west_1").unwrap();
        assert_eq!(r.login_base(), "https://login.mypurecloud.ie");
        let r = Region::from_id("us-east-2").unwrap();
        assert_eq!(r.login_base(), "https://login.use2.us-gov-pure.cloud");
        assert!(Region::from_id("us-east-9").is_none());
        assert_eq!(REGIONS.len(), 18);
        let r = Region::from_id("eusc_de_east_1").unwrap();
        assert_eq!(r.login_base(), "https://login.edee1.eusc-pure.cloud");
    }

    #[test]
    fn a_region_is_found_by_the_host_an_admin_knows_it_by() {
        for written in [
            "mypurecloud.ie",
            "apps.mypurecloud.ie",
            "https://apps.mypurecloud.ie/directory/",
            "login.mypurecloud.ie",
            "API.MYPURECLOUD.IE",
        ] {
            assert_eq!(
                Region::from_id(written).map(|r| r.id),
                Some("eu_west_1"),
                "{written}"
            );
        }
        assert_eq!(
            Region::from_id("usw2.pure.cloud").map(|r| r.id),
            Some("us_west_2")
        );
        // mypurecloud.com is us_east_1, not a suffix match for mypurecloud.com.au.
        assert_eq!(
            Region::from_id("mypurecloud.com").map(|r| r.id),
            Some("us_east_1")
        );
        assert_eq!(
            Region::from_id("mypurecloud.com.au").map(|r| r.id),
            Some("ap_southeast_2")
        );
        for unknown in ["", "pure.cloud", "example.com", "https://", "api."] {
            assert!(Region::from_id(unknown).is_none(), "{unknown:?}");
        }
    }
}
