//! WIT glue (wasm32 only): copies the generated `audit-request` into [`crate::model`] (the flags
//! with the SDK's [`flag_conversions!`](wfhost_pack_sdk::flag_conversions)), calls
//! [`crate::rules::audit`] and copies the verdict back. No logic lives here.

wit_bindgen::generate!({ world: "auditor", path: "../../wit" });
wfhost_pack_sdk::flag_conversions!();

use crate::model;
use exports::wfhost::plugin::judge::Guest;
use wfhost::plugin::types::{AuditRequest, Kv, PhaseStatus, Verdict, VerdictStatus};
use wfhost_pack_sdk::verdict::Status;

struct Auditor;

fn kvs(list: Vec<Kv>) -> Vec<model::Kv> {
    list.into_iter().map(|kv| (kv.key, kv.value)).collect()
}

fn request(r: AuditRequest) -> model::AuditRequest {
    let p = r.pack;
    let o = p.outcome;
    model::AuditRequest {
        laws: r
            .laws
            .into_iter()
            .map(|l| model::Law {
                id: l.id,
                title: l.title,
                text: l.text,
            })
            .collect(),
        pack: model::EvidencePack {
            flow_id: p.flow_id,
            phase: p.phase,
            constitution_version: p.constitution_version,
            applicable_laws: p.applicable_laws,
            config_sha256_at_start: p.config_sha256_at_start,
            config_sha256: p.config_sha256,
            transport: p.transport,
            bound_target: p.bound_target,
            phase_target: p.phase_target,
            target_source: p.target_source,
            outcome: model::Outcome {
                phase: o.phase,
                status: match o.status {
                    PhaseStatus::Ok => model::PhaseStatus::Ok,
                    PhaseStatus::Skip => model::PhaseStatus::Skip,
                    PhaseStatus::Fail => model::PhaseStatus::Fail,
                },
                code: o.code,
                message: o.message,
                artifacts: o
                    .artifacts
                    .into_iter()
                    .map(|a| model::Artifact {
                        name: a.name,
                        path: a.path,
                        sha256: a.sha256,
                    })
                    .collect(),
                facts: kvs(o.facts),
                details_json: o.details_json,
            },
            flow_flags: p.flow_flags.into(),
            consent: p.consent,
            config: kvs(p.config),
            fsm_before: p.fsm_before,
            fsm_after: p.fsm_after,
            deterministic_pass: p.deterministic_pass,
            deterministic_findings: p.deterministic_findings,
        },
    }
}

impl Guest for Auditor {
    fn audit(request_in: AuditRequest) -> Verdict {
        let v = crate::rules::audit(&request(request_in));
        Verdict {
            status: match v.status {
                Status::Pass => VerdictStatus::Pass,
                Status::Fail => VerdictStatus::Fail,
                Status::Unverified => VerdictStatus::Unverified,
            },
            violated_laws: v.violated_laws,
            evidence_refs: v.evidence_refs,
            reasons: v.reasons,
            remediation: v.remediation,
        }
    }

    fn describe() -> String {
        crate::description()
    }
}

export!(Auditor);
