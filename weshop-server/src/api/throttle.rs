//! Failed logins per client address (the shop itself throttles per account): one address
//! cannot try passwords for many accounts fast. Generous before it waits, since many people
//! may share one address (an office, a carrier's NAT); a success does not reset it, or an
//! attacker could reset it with an account of their own.

use std::{net::IpAddr, time::Duration};

use poem::web::RemoteAddr;
use weshop_core::{
    domain::Timestamp,
    login_throttle::{LoginThrottle, ThrottlePolicy},
    shop::ShopError,
};

/// Failed logins per client address.
pub struct AddressThrottle(LoginThrottle<IpAddr>);

impl Default for AddressThrottle {
    /// 20 free failures per address, then 1 s, 2 s, 4 s… up to 5 minutes.
    fn default() -> Self {
        Self(LoginThrottle::new(ThrottlePolicy {
            free: 20,
            max_wait: Duration::from_secs(5 * 60),
            ..ThrottlePolicy::default()
        }))
    }
}

fn ip(addr: &RemoteAddr) -> Option<IpAddr> {
    addr.as_socket_addr().map(|a| a.ip())
}

impl AddressThrottle {
    /// `TooMany` when this address must wait before trying again.
    pub fn check(&self, addr: &RemoteAddr) -> Result<(), ShopError> {
        match ip(addr) {
            Some(ip) => {
                self.0
                    .check(&ip, Timestamp::now())
                    .map_err(|retry_after| ShopError::TooMany {
                        what: "too many failed logins".into(),
                        retry_after,
                    })
            }
            None => Ok(()),
        }
    }

    /// Records the outcome of a login from this address: a wrong password counts.
    pub fn record<T>(&self, addr: &RemoteAddr, outcome: &Result<T, ShopError>) {
        if let (Some(ip), Err(ShopError::Unauthenticated(_))) = (ip(addr), outcome) {
            self.0.failed(&ip, Timestamp::now());
        }
    }
}
