mod common;
use std::time::Instant;
use wfhost_runtime::*;
#[test]
fn timing() {
    let (rt, _d) = common::runtime();
    let limits = Limits::auditor_default();
    for stem in ["hostile_runtime"] {
        let a = rt.load_auditor(&common::component(stem)).unwrap();
        let req = common::request("pass");
        for _ in 0..200 { a.audit(&req, &limits); }
        let n = 20000;
        let t = Instant::now();
        for _ in 0..n { a.audit(&req, &limits); }
        println!("{stem}: {:?} per audit", t.elapsed() / n);
        let t = Instant::now();
        for _ in 0..n { let _ = a.describe(&limits); }
        println!("{stem}: {:?} per describe", t.elapsed() / n);
    }
    let a = rt.load_auditor(&ComponentSource::builtin("constitution")).unwrap();
    let req = common::request("P30");
    let r = a.audit(&req, &limits);
    println!("builtin fuel {} status {:?}", r.fuel_used, r.status());
    let t = Instant::now();
    for _ in 0..200 { let _ = a.describe(&limits); }
    println!("builtin: {:?} per describe", t.elapsed() / 200);
}
