#!/usr/bin/env python3
"""A constitutional court of the kind the original workflow ran, written from the constitution
text alone (no wfhost code): `constitution_court.py --evidence PACK --output VERDICT --phase Pxx`.

It reads one flat evidence pack, and `flow_start_artifact` (relative to its working directory,
the flow's evidence directory), and writes
`{phase, status: pass|fail|unverified, pass, violations, violated_laws, remediation}`. It always
exits 0; input it cannot judge is `unverified`. What it checks:

- every field the evidence pack MUST include is present (lium_target or ops_default_host);
- the pack names every law the phase is judged against (law coverage);
- phase_status and command_rc agree (ok/skip: 0, fail: not 0);
- the config hash and path are the ones flow.start.json recorded (continuity);
- after P20 the pack's target is the bound one (no drift);
- P50/P60 that ran name a repo_url;
- P90's teardown mode is keep or delete, and only delete deletes the pod.
"""
import argparse
import json
import os
import sys

MINIMUM = [
    "flow_id", "phase_id", "started_at", "ended_at", "active_config_path", "active_config_sha256",
    "transport_hint", "remote_env_path", "fsm_before", "fsm_after", "command_name", "command_rc",
    "phase_status", "repo_url", "teardown_mode",
]

# The laws each phase is judged against, as the constitution's phase contract table gives them.
PHASE_LAWS = {
    "P00": [1, 2, 4, 5, 9], "P10": [1, 3, 4, 5, 6, 9], "P20": [1, 3, 5, 9], "P30": [1, 3, 5, 6, 9],
    "P40": [1, 3, 5, 6, 9, 10], "P50": [1, 3, 5, 6, 9], "P60": [1, 3, 5, 6, 9], "P70": [1, 3, 5, 6, 9],
    "P80": [1, 3, 5, 6, 9], "P90": [1, 3, 5, 7, 9], "P99": [1, 6, 7, 9],
}

LAW_NAMES = {
    1: "LAW_1_CANONICAL_CONFIG", 2: "LAW_2_SINGLE_CANONICAL_LIFECYCLE", 3: "LAW_3_TARGET_RESOLUTION",
    4: "LAW_4_NONINTERACTIVE_SAFETY", 5: "LAW_5_PHASE_CONTRACT", 6: "LAW_6_PROVENANCE",
    7: "LAW_7_EXPLICIT_DESTRUCTION", 8: "LAW_8_DOC_SCRIPT_CONSISTENCY",
    9: "LAW_9_PHASE_END_CONSTITUTIONAL_VALIDATION", 10: "LAW_10_SECRETS_STAY_IN_HOST",
}


def verdict(phase, violations, laws, remediation, status=None):
    if status is None:
        status = "fail" if violations else "pass"
    return {
        "phase": phase,
        "status": status,
        "pass": status == "pass",
        "violations": violations,
        "violated_laws": sorted(set(laws)),
        "remediation": remediation,
    }


def judge(phase, pack):
    applicable = PHASE_LAWS.get(phase)
    if applicable is None:
        return verdict(phase, [f"{phase} is not a phase of the constitution"], [], [], "unverified")
    violations, laws, remediation = [], [], []

    def violate(law, text, fix):
        # A court may only name laws the phase is judged against; the court law covers the rest.
        laws.append(LAW_NAMES[law] if law in applicable else LAW_NAMES[9])
        violations.append(text)
        remediation.append(fix)

    missing = [f for f in MINIMUM if f not in pack]
    if "lium_target" not in pack and "ops_default_host" not in pack:
        missing.append("lium_target or ops_default_host")
    if missing:
        violate(6, f"the evidence pack lacks {', '.join(missing)}", "write every field of the minimum pack schema")
    if pack.get("phase_id", phase) != phase:
        violate(5, f"the pack is for {pack.get('phase_id')}, the court was asked about {phase}", "judge the pack of this phase")
    named = set(pack.get("applicable_laws") or [])
    for law in applicable:
        if LAW_NAMES[law] not in named:
            violate(9, f"{LAW_NAMES[law]} applies to {phase} but the pack does not name it", "list every applicable law")
    status, rc = pack.get("phase_status"), pack.get("command_rc")
    if status in ("ok", "skip") and rc != 0:
        violate(5, f"phase_status {status} with command_rc {rc}", "a phase that passed has rc 0")
    if status == "fail" and rc == 0:
        violate(5, "phase_status fail with command_rc 0", "a failed phase carries its code")
    try:
        with open(pack.get("flow_start_artifact") or "flow.start.json", encoding="utf-8") as f:
            start = json.load(f)
    except (OSError, ValueError) as e:
        return verdict(phase, [f"cannot read flow_start_artifact: {e}"], [], ["run the court in the flow's evidence directory"], "unverified")
    if pack.get("active_config_sha256") != start.get("active_config_sha256"):
        violate(1, "the config's sha256 changed since the flow started", "run with the config the flow started with")
    if pack.get("active_config_path") != start.get("active_config_path"):
        violate(1, "the active config path changed since the flow started", "use the canonical config")
    if phase > "P20" and status != "skip":
        target = pack.get("lium_target")
        transport = pack.get("transport")
        if not target:
            violate(3, f"{phase} ran after P20 with no bound target", "bind the target in P20")
        elif pack.get("transport_hint") != f"{transport}:{target}":
            violate(3, f"transport_hint {pack.get('transport_hint')} is not {transport}:{target}", "act on the bound target only")
        if pack.get("phase_target") not in (None, target) or pack.get("bound_target") not in (None, target):
            violate(3, f"{phase} acted on {pack.get('phase_target')}, not the bound {target}", "act on the bound target only")
    if phase in ("P50", "P60") and status == "ok" and not pack.get("repo_url"):
        violate(5, f"{phase} ran without a repo_url", "set REPO_URL")
    if phase == "P90":
        mode = pack.get("teardown_mode")
        if mode not in ("keep", "delete"):
            violate(7, f"teardown mode {mode!r} is neither keep nor delete", "pass --teardown keep or delete")
        elif (pack.get("command_name") == "pod-delete") != (mode == "delete"):
            violate(7, f"command {pack.get('command_name')} with teardown {mode}", "delete only with --teardown delete")
    return verdict(phase, violations, laws, remediation)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--evidence", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--phase", required=True)
    a = ap.parse_args()
    try:
        with open(a.evidence, encoding="utf-8") as f:
            pack = json.load(f)
        if not isinstance(pack, dict):
            raise ValueError("the evidence pack is not an object")
        out = judge(a.phase, pack)
    except (OSError, ValueError) as e:
        out = verdict(a.phase, [f"cannot judge: {e}"], [], ["give the court a readable evidence pack"], "unverified")
    with open(a.output, "w", encoding="utf-8") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
