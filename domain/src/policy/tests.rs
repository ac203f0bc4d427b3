use std::collections::BTreeSet;

use super::*;
use crate::actor::Role;
use crate::testing::given;

fn ctx(roles: &[Role]) -> PolicyContext {
    PolicyContext {
        actor: Actor {
            user_id: "alice".into(),
            enterprise_id: "acme".into(),
            display_name: "Alice".into(),
            roles: roles.iter().copied().collect::<BTreeSet<_>>(),
        },
        enterprise_id: "acme".into(),
    }
}

#[test]
fn an_admin_switches_external_sharing_off_and_sets_a_custom_domain() {
    given::<EnterprisePolicy>([])
        .when(
            ChangePolicy {
                external_sharing: Some(false),
                custom_domain: Some(Some("Share.Example.com".into())),
                ..ChangePolicy::default()
            },
            &ctx(&[Role::Admin]),
        )
        .then([
            PolicyEvent::ExternalSharingChanged { enabled: false },
            PolicyEvent::CustomDomainChanged {
                domain: Some("share.example.com".into()),
            },
        ]);
}

#[test]
fn setting_a_value_it_already_has_records_nothing() {
    given::<EnterprisePolicy>([])
        .when(
            ChangePolicy {
                external_sharing: Some(true),
                daily_quota: Some(500),
                time_zone: Some("UTC".into()),
                ..ChangePolicy::default()
            },
            &ctx(&[Role::Admin]),
        )
        .then([]);
}

#[test]
fn only_an_admin_of_the_enterprise_changes_its_policy() {
    given::<EnterprisePolicy>([])
        .when(
            ChangePolicy {
                online_editing: Some(true),
                ..ChangePolicy::default()
            },
            &ctx(&[Role::User]),
        )
        .then_err(|e| *e == PolicyError::NotAdmin);
    let mut other = ctx(&[Role::Admin]);
    other.enterprise_id = "globex".into();
    given::<EnterprisePolicy>([])
        .when(ChangePolicy::default(), &other)
        .then_err(|e| *e == PolicyError::NotAdmin);
}

#[test]
fn invalid_domains_quotas_and_time_zones_are_refused() {
    for bad in [
        "localhost",
        "-x.example.com",
        "a..b",
        "exa mple.com",
        "x.example.com/path",
    ] {
        given::<EnterprisePolicy>([])
            .when(
                ChangePolicy {
                    custom_domain: Some(Some(bad.into())),
                    ..ChangePolicy::default()
                },
                &ctx(&[Role::Admin]),
            )
            .then_err(|e| matches!(e, PolicyError::InvalidDomain(_)));
    }
    given::<EnterprisePolicy>([])
        .when(
            ChangePolicy {
                daily_quota: Some(0),
                ..ChangePolicy::default()
            },
            &ctx(&[Role::Admin]),
        )
        .then_err(|e| *e == PolicyError::InvalidQuota);
    given::<EnterprisePolicy>([])
        .when(
            ChangePolicy {
                time_zone: Some("Mars/Olympus".into()),
                ..ChangePolicy::default()
            },
            &ctx(&[Role::Admin]),
        )
        .then_err(|e| matches!(e, PolicyError::InvalidTimeZone(_)));
}

#[test]
fn removing_the_custom_domain_restores_the_quota_and_is_recorded() {
    let state = given::<EnterprisePolicy>([PolicyEvent::CustomDomainChanged {
        domain: Some("share.example.com".into()),
    }])
    .when(
        ChangePolicy {
            custom_domain: Some(None),
            ..ChangePolicy::default()
        },
        &ctx(&[Role::Admin]),
    )
    .then([PolicyEvent::CustomDomainChanged { domain: None }]);
    assert_eq!(crate::quota::daily_limit(&state), Some(500));
}

#[test]
fn every_policy_event_round_trips_through_storage() {
    crate::testing::assert_round_trips(&[
        PolicyEvent::ExternalSharingChanged { enabled: false },
        PolicyEvent::InternalSharingChanged { enabled: false },
        PolicyEvent::OnlineEditingChanged { enabled: true },
        PolicyEvent::CustomDomainChanged { domain: None },
        PolicyEvent::CustomDomainChanged {
            domain: Some("a.b".into()),
        },
        PolicyEvent::DailyQuotaChanged { limit: 3 },
        PolicyEvent::TimeZoneChanged {
            time_zone: "UTC".into(),
        },
    ]);
}
