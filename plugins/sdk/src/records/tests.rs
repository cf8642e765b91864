//! Tests of `record_conversions!`: every field and every variant crosses unchanged, both ways.
//! The conversions checked are the ones `export_transport!` expands (it invokes
//! `record_conversions!`) over the stand-in bindings of `crate::transport::tests`, the same
//! expansion an executor's glue gets over its generated `types` and `log`.

use super::*;
use crate::transport::tests::component::wfhost::plugin::log::Level as WitLevel;
use crate::transport::tests::component::wfhost::plugin::types::{
    CommandResult as WitResult, FetchMode as WitFetch, FlowFlags as WitFlags, Kv as WitKv,
    PodIdentity as WitPod, PodState as WitState, PodReport as WitStatus,
    ProvisionMode as WitProvision, SweepMode as WitSweep, TeardownMode as WitTeardown,
};

#[test]
fn a_command_result_keeps_every_field_both_ways() {
    let killed = WitResult {
        exit_code: None,
        stdout: String::new(),
        stderr: "killed".into(),
        timed_out: true,
        duration_ms: 30_000,
        truncated: false,
    };
    let cut = WitResult {
        exit_code: Some(7),
        stdout: "out".into(),
        stderr: "err".into(),
        timed_out: false,
        duration_ms: 1234,
        truncated: true,
    };
    for wit in [killed, cut] {
        let ours = CommandResult::from(wit.clone());
        assert_eq!(
            (ours.exit_code, ours.stdout.as_str(), ours.stderr.as_str()),
            (wit.exit_code, wit.stdout.as_str(), wit.stderr.as_str())
        );
        assert_eq!(
            (ours.timed_out, ours.duration_ms, ours.truncated),
            (wit.timed_out, wit.duration_ms, wit.truncated)
        );
        assert_eq!(WitResult::from(ours), wit);
    }
}

#[test]
fn a_pod_identity_keeps_every_field_both_ways() {
    let wit = WitPod {
        transport: "ssh".into(),
        target: "gpu-1".into(),
        location: "user@gpu-1:2222".into(),
    };
    let ours = PodIdentity::from(wit.clone());
    assert_eq!(
        (ours.transport.as_str(), ours.target.as_str()),
        ("ssh", "gpu-1")
    );
    assert_eq!(ours.location, "user@gpu-1:2222");
    assert_eq!(WitPod::from(ours), wit);
}

#[test]
fn a_kv_entry_keeps_key_and_value_both_ways() {
    let wit = WitKv {
        key: "A B".into(),
        value: "x=y".into(),
    };
    let ours: Kv = wit.clone().into();
    assert_eq!(ours, ("A B".to_string(), "x=y".to_string()));
    assert_eq!(WitKv::from(ours), wit);
}

#[test]
fn every_level_maps_to_its_namesake() {
    let got: Vec<WitLevel> = [Level::Debug, Level::Info, Level::Warn, Level::Error]
        .into_iter()
        .map(WitLevel::from)
        .collect();
    assert_eq!(
        got,
        [
            WitLevel::Debug,
            WitLevel::Info,
            WitLevel::Warn,
            WitLevel::Error
        ]
    );
}

#[test]
fn a_pod_status_keeps_its_state_and_detail_both_ways() {
    let states = [
        (WitState::Ready, PodState::Ready, "ready"),
        (WitState::Starting, PodState::Starting, "starting"),
        (WitState::Stopped, PodState::Stopped, "stopped"),
        (WitState::Missing, PodState::Missing, "missing"),
    ];
    for (wit, ours, name) in states {
        let status = PodReport::from(WitStatus {
            state: wit,
            detail: format!("pod is {name}"),
        });
        assert_eq!((status.state, status.state.as_str()), (ours, name));
        assert_eq!(status.detail, format!("pod is {name}"));
        assert_eq!(WitStatus::from(status).state, wit);
    }
}

#[test]
fn flow_flags_cross_typed_field_for_field() {
    let wit = WitFlags {
        provision: WitProvision::Skip,
        sweep: WitSweep::Resume,
        wait: true,
        fetch: WitFetch::Run("lr-0.1".into()),
        teardown: WitTeardown::Delete,
        yes: true,
    };
    let ours = FlowFlags::from(wit);
    assert_eq!(
        ours,
        FlowFlags {
            provision: ProvisionMode::Skip,
            sweep: SweepMode::Resume,
            wait: true,
            fetch: FetchMode::Run("lr-0.1".into()),
            teardown: TeardownMode::Delete,
            yes: true,
        }
    );
    let shown: Vec<String> = [
        ours.provision.to_string(),
        ours.sweep.to_string(),
        ours.fetch.to_string(),
        ours.teardown.to_string(),
    ]
    .into();
    assert_eq!(shown, ["skip", "resume", "run:lr-0.1", "delete"]);
    let plain = FlowFlags::from(WitFlags {
        provision: WitProvision::Auto,
        sweep: WitSweep::Start,
        wait: false,
        fetch: WitFetch::All,
        teardown: WitTeardown::Keep,
        yes: false,
    });
    assert_eq!(plain, FlowFlags { fetch: FetchMode::All, ..FlowFlags::default() });
    assert_eq!(FetchMode::None.to_string(), "none");
    assert_eq!(SweepMode::Skip.to_string(), "skip");
}
