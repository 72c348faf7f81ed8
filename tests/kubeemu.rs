//! Tests of the Kubernetes API emulation through the real kube client, kube-runtime and kubectl.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use siptrunk_operator::crd::{self, SipTrunk};
use siptrunk_operator::kubeemu::{EmulatorOptions, KubeEmulator};
use std::time::Duration;

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn emu() -> Result<(KubeEmulator, kube::Client), Box<dyn std::error::Error + Send + Sync>> {
    let e = KubeEmulator::start(EmulatorOptions { crds: crd::all(), ..Default::default() }).await?;
    let c = e.client()?;
    Ok((e, c))
}

fn trunk(name: &str) -> Result<SipTrunk, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
        "metadata": {"name": name},
        "spec": {
            "providerRef": {"kind": "SipProvider", "name": "p"},
            "phoneNumber": "+14155551234",
            "sipAddress": "sip.example.com",
            "auth": {"type": "credentials", "username": "user1", "passwordSecretRef": {"name": "s", "key": "password"}},
            "callingFormat": "+e164",
            "countryCode": "US"
        }
    }))
}

fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test]
async fn crud_conflict_and_generation() -> R {
    let (emu, client) = emu().await?;
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"password": "pw"}}))?;
    let created = secrets.create(&PostParams::default(), &s).await?;
    assert!(created.metadata.uid.is_some());
    let got = secrets.get("s").await?;
    assert_eq!(got.metadata.resource_version, created.metadata.resource_version);
    assert_eq!(secrets.list(&ListParams::default()).await?.items.len(), 1);
    let dup = secrets.create(&PostParams::default(), &s).await;
    assert_eq!(dup.as_ref().err().and_then(code), Some(409));

    let trunks: Api<SipTrunk> = Api::default_namespaced(client.clone());
    let t = trunks.create(&PostParams::default(), &trunk("t1")?).await?;
    assert_eq!(t.metadata.generation, Some(1));
    assert_eq!(t.spec.deletion_policy, Default::default());
    // replace with a new spec value: generation 2
    let mut t2 = t.clone();
    t2.spec.display_name = Some("Main".into());
    let t2 = trunks.replace("t1", &PostParams::default(), &t2).await?;
    assert_eq!(t2.metadata.generation, Some(2));
    // stale resourceVersion: 409
    let mut stale = t.clone();
    stale.spec.display_name = Some("Other".into());
    let err = trunks.replace("t1", &PostParams::default(), &stale).await;
    assert_eq!(err.as_ref().err().and_then(code), Some(409));
    // metadata-only and status changes do not bump generation
    let p =
        trunks.patch("t1", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}}))).await?;
    assert_eq!(p.metadata.generation, Some(2));
    let p =
        trunks.patch_status("t1", &PatchParams::default(), &Patch::Merge(json!({"status": {"trunkId": "42"}}))).await?;
    assert_eq!(p.metadata.generation, Some(2));
    assert_eq!(p.status.and_then(|s| s.trunk_id).as_deref(), Some("42"));
    // status in a main-resource write is ignored
    let p = trunks.patch("t1", &PatchParams::default(), &Patch::Merge(json!({"status": {"trunkId": "99"}}))).await?;
    assert_eq!(p.status.and_then(|s| s.trunk_id).as_deref(), Some("42"));
    // missing namespace is a 404, creating it makes it work
    let other: Api<Secret> = Api::namespaced(client.clone(), "nope");
    assert_eq!(other.create(&PostParams::default(), &s).await.err().as_ref().and_then(code), Some(404));
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    nss.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "nope"}}))?).await?;
    other.create(&PostParams::default(), &s).await?;
    assert_eq!(Api::<Secret>::all(client.clone()).list(&ListParams::default()).await?.items.len(), 2);
    // label selector and paging
    let sel = trunks.list(&ListParams::default().labels("a=b")).await?;
    assert_eq!(sel.items.len(), 1);
    assert!(trunks.list(&ListParams::default().labels("a!=b")).await?.items.is_empty());
    for i in 0..5 {
        trunks.create(&PostParams::default(), &trunk(&format!("page{i}"))?).await?;
    }
    let page = trunks.list(&ListParams::default().limit(2)).await?;
    assert_eq!(page.items.len(), 2);
    let rest = trunks
        .list(&ListParams::default().limit(10).continue_token(page.metadata.continue_.as_deref().unwrap_or("")))
        .await?;
    assert_eq!(rest.items.len(), 4);
    // leases (leader election): create, replace with the current resourceVersion, stale replace conflicts
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), "kube-system");
    let l = leases
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}),
            )?,
        )
        .await?;
    let mut l2 = l.clone();
    if let Some(spec) = l2.spec.as_mut() {
        spec.holder_identity = Some("b".into());
    }
    let l2 = leases.replace("leader", &PostParams::default(), &l2).await?;
    assert_eq!(l2.spec.and_then(|s| s.holder_identity).as_deref(), Some("b"));
    assert_eq!(leases.replace("leader", &PostParams::default(), &l).await.err().as_ref().and_then(code), Some(409));
    // delete without finalizers removes
    trunks.delete("t1", &DeleteParams::default()).await?;
    assert_eq!(trunks.get("t1").await.err().as_ref().and_then(code), Some(404));
    let calls = emu.calls();
    assert!(calls.iter().any(|c| c.rbac() == "patch siptrunk.dev/siptrunks/status"));
    assert!(calls.iter().any(|c| c.rbac() == "update siptrunk.dev/siptrunks"));
    assert!(calls.iter().any(|c| c.rbac() == "list /secrets" && c.namespace.is_none()));
    emu.shutdown().await;
    Ok(())
}

/// Polls `stream` until `pred` accepts an event or the deadline passes.
async fn wait_event<S, T>(stream: &mut S, what: &str, mut pred: impl FnMut(&T) -> bool) -> Result<(), String>
where
    S: futures::Stream<Item = Result<T, watcher::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(format!("timed out waiting for {what}")),
            Ok(None) => return Err(format!("stream ended waiting for {what}")),
            Ok(Some(Ok(ev))) if pred(&ev) => return Ok(()),
            Ok(Some(_)) => {}
        }
    }
}

fn applied(ev: &watcher::Event<SipTrunk>, name: &str) -> bool {
    matches!(ev, watcher::Event::Apply(o) | watcher::Event::InitApply(o) if o.metadata.name.as_deref() == Some(name))
}

#[tokio::test]
async fn watcher_sees_changes_and_survives_cuts_and_410() -> R {
    let (emu, client) = emu().await?;
    let api: Api<SipTrunk> = Api::default_namespaced(client.clone());
    let mut w = watcher(api.clone(), watcher::Config::default()).boxed();
    wait_event(&mut w, "InitDone", |e| matches!(e, watcher::Event::InitDone)).await?;
    api.create(&PostParams::default(), &trunk("a")?).await?;
    wait_event(&mut w, "ADDED a", |e| applied(e, "a")).await?;
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"spec": {"displayName": "x"}}))).await?;
    wait_event(
        &mut w,
        "MODIFIED a",
        |e| matches!(e, watcher::Event::Apply(o) if o.spec.display_name.as_deref() == Some("x")),
    )
    .await?;
    api.delete("a", &DeleteParams::default()).await?;
    wait_event(
        &mut w,
        "DELETED a",
        |e| matches!(e, watcher::Event::Delete(o) if o.metadata.name.as_deref() == Some("a")),
    )
    .await?;

    // every watch stream now ends after one event: the watcher re-watches from its last resourceVersion
    emu.faults().set_watch_cut_after_events(Some(1));
    for n in ["b", "c", "d"] {
        api.create(&PostParams::default(), &trunk(n)?).await?;
    }
    for n in ["b", "c", "d"] {
        wait_event(&mut w, n, |e| applied(e, n)).await?;
    }
    let watches_before = emu.calls().iter().filter(|c| c.verb == "watch").count();
    assert!(watches_before >= 3, "expected re-watches after cuts, saw {watches_before}");

    // the next watch is answered with 410 Expired: the watcher re-lists and carries on
    emu.faults().expire_next_watches(1);
    api.create(&PostParams::default(), &trunk("e")?).await?;
    wait_event(&mut w, "e", |e| applied(e, "e")).await?;
    emu.faults().set_watch_cut_after_events(None);
    api.create(&PostParams::default(), &trunk("f")?).await?;
    wait_event(&mut w, "f", |e| applied(e, "f")).await?;
    let calls = emu.calls();
    let lists = calls.iter().filter(|c| c.verb == "list" && c.resource == "siptrunks").count();
    assert!(lists >= 2, "a 410 must force a re-list, saw {lists} lists");
    emu.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn too_old_resource_version_gets_410_event() -> R {
    let emu =
        KubeEmulator::start(EmulatorOptions { crds: crd::all(), history_limit: 16, ..Default::default() }).await?;
    let client = emu.client()?;
    let api: Api<Secret> = Api::default_namespaced(client);
    for i in 0..40 {
        api.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": format!("s{i}")}}))?)
            .await?;
    }
    let mut stream = api.watch(&kube::api::WatchParams::default(), "1").await?.boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next()).await?;
    match first {
        Some(Ok(kube::api::WatchEvent::Error(e))) => assert_eq!(e.code, 410),
        Some(Err(kube::Error::Api(s))) => assert_eq!(s.code, 410),
        other => return Err(format!("expected 410, got {other:?}").into()),
    }
    emu.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn finalizer_helper_and_deletion() -> R {
    use kube::runtime::controller::Action;
    use kube::runtime::finalizer::{Event as FEvent, finalizer};
    let (emu, client) = emu().await?;
    let api: Api<SipTrunk> = Api::default_namespaced(client.clone());
    let t = api.create(&PostParams::default(), &trunk("fin")?).await?;
    let fname = "siptrunk.dev/cleanup";
    let noop = |ev: FEvent<SipTrunk>| async move {
        let _ = ev;
        Ok::<Action, kube::Error>(Action::await_change())
    };
    // first call adds the finalizer (JSON patch with a `test` of a missing path)
    finalizer(&api, fname, std::sync::Arc::new(t), noop).await.map_err(|e| e.to_string())?;
    let t = api.get("fin").await?;
    assert_eq!(t.metadata.finalizers.as_deref(), Some(&[fname.to_string()][..]));
    // delete: stays, with deletionTimestamp
    api.delete("fin", &DeleteParams::default()).await?;
    let t = api.get("fin").await?;
    assert!(t.metadata.deletion_timestamp.is_some());
    // no new finalizers while deleting
    let add = api
        .patch("fin", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": [fname, "other"]}})))
        .await;
    assert_eq!(add.err().as_ref().and_then(code), Some(422));
    // cleanup removes the finalizer (test + remove) and the object goes away
    let cleaned = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = cleaned.clone();
    finalizer(&api, fname, std::sync::Arc::new(t), move |ev| {
        let flag = flag.clone();
        async move {
            if matches!(ev, FEvent::Cleanup(_)) {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            Ok::<Action, kube::Error>(Action::await_change())
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    assert!(cleaned.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(api.get("fin").await.err().as_ref().and_then(code), Some(404));
    emu.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn server_side_apply_main_and_status() -> R {
    let (emu, client) = emu().await?;
    let api: Api<SipTrunk> = Api::default_namespaced(client.clone());
    let pp = PatchParams::apply("siptrunk-operator");
    // SSA creates when missing
    let mut t = trunk("ssa")?;
    t.spec.display_name = Some("one".into());
    let created = api.patch("ssa", &pp, &Patch::Apply(&t)).await?;
    assert_eq!(created.metadata.generation, Some(1));
    // SSA update changes spec; a field this manager stops applying is removed
    let mut cfg = serde_json::to_value(&t)?;
    cfg["spec"]["displayName"] = json!(null);
    if let Some(spec) = cfg["spec"].as_object_mut() {
        spec.remove("displayName");
        spec.insert("countryCode".into(), json!("DE"));
    }
    let updated = api.patch("ssa", &pp, &Patch::Apply(&cfg)).await?;
    assert_eq!(updated.spec.country_code.as_deref(), Some("DE"));
    assert_eq!(updated.spec.display_name, None);
    assert_eq!(updated.metadata.generation, Some(2));
    // another applier changing a field this one owns conflicts unless forced
    let other = PatchParams::apply("someone-else");
    let mut cfg2 = json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk", "spec": {"countryCode": "FR"}});
    let conflict = api.patch("ssa", &other, &Patch::Apply(&cfg2)).await;
    assert_eq!(conflict.err().as_ref().and_then(code), Some(409));
    cfg2["spec"]["countryCode"] = json!("FR");
    let forced = api.patch("ssa", &other.clone().force(), &Patch::Apply(&cfg2)).await?;
    assert_eq!(forced.spec.country_code.as_deref(), Some("FR"));

    // status through SSA on /status with a field manager
    let status = json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
        "status": {"trunkId": "42", "observedGeneration": 3, "conditions": [
            {"type": "Ready", "status": "True", "reason": "Synced", "message": "ok", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}});
    let rv_before = api.get("ssa").await?.metadata.resource_version;
    let s = api.patch_status("ssa", &pp, &Patch::Apply(&status)).await?;
    let st = s.status.clone().ok_or("no status")?;
    assert_eq!(st.trunk_id.as_deref(), Some("42"));
    assert_eq!(st.conditions.len(), 1);
    assert_eq!(s.metadata.generation, Some(3));
    assert_ne!(s.metadata.resource_version, rv_before);
    // the same apply again is a no-op: resourceVersion does not move
    let again = api.patch_status("ssa", &pp, &Patch::Apply(&status)).await?;
    assert_eq!(again.metadata.resource_version, s.metadata.resource_version);
    // dropping trunkId from the applied status removes it
    let mut less = status.clone();
    if let Some(st) = less["status"].as_object_mut() {
        st.remove("trunkId");
    }
    let s2 = api.patch_status("ssa", &pp, &Patch::Apply(&less)).await?;
    assert_eq!(s2.status.and_then(|s| s.trunk_id), None);
    let calls = emu.calls();
    assert!(calls.iter().any(|c| c.rbac() == "patch siptrunk.dev/siptrunks/status"
        && c.field_manager.as_deref() == Some("siptrunk-operator")));
    emu.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn schema_and_cel_rejections() -> R {
    let (emu, client) = emu().await?;
    let api: Api<SipTrunk> = Api::default_namespaced(client.clone());
    let mut bad = serde_json::to_value(trunk("ipauth")?)?;
    bad["spec"]["auth"] = json!({"type": "ip", "username": "user1"});
    let bad: SipTrunk = serde_json::from_value(bad)?;
    let err = api.create(&PostParams::default(), &bad).await.err().ok_or("ip auth without IPs was accepted")?;
    let kube::Error::Api(s) = &err else { return Err(format!("unexpected {err:?}").into()) };
    assert_eq!(s.code, 422);
    assert_eq!(s.reason, "Invalid");
    assert!(s.message.contains("SipTrunk.siptrunk.dev \"ipauth\" is invalid"), "{}", s.message);
    assert!(s.message.contains("spec.auth.allowedInboundIps"), "{}", s.message);

    // OpenAPI schema: enum and pattern
    let mut enum_bad = serde_json::to_value(trunk("enum")?)?;
    enum_bad["spec"]["countryCode"] = json!("usa");
    let r = api.create(&PostParams::default(), &serde_json::from_value(enum_bad)?).await;
    let msg = format!("{:?}", r.err());
    assert!(msg.contains("spec.countryCode") && msg.contains("422"), "{msg}");

    // transition rule: providerRef is immutable
    api.create(&PostParams::default(), &trunk("imm")?).await?;
    let r =
        api.patch("imm", &PatchParams::default(), &Patch::Merge(json!({"spec": {"providerRef": {"name": "q"}}}))).await;
    let msg = format!("{:?}", r.err());
    assert!(msg.contains("providerRef cannot change") && msg.contains("422"), "{msg}");
    // an allowed change still passes
    api.patch("imm", &PatchParams::default(), &Patch::Merge(json!({"spec": {"displayName": "ok"}}))).await?;
    emu.shutdown().await;
    Ok(())
}

/// Manual use: `KUBEEMU_ADDR=127.0.0.1:6443 cargo test --test kubeemu serve_forever -- --ignored`
/// serves the emulation (CRDs installed) until the process is killed.
#[tokio::test]
#[ignore = "manual: serves forever"]
async fn serve_forever() -> R {
    let addr = std::env::var("KUBEEMU_ADDR").unwrap_or_else(|_| "127.0.0.1:6443".into()).parse()?;
    KubeEmulator::run_until(
        EmulatorOptions { addr: Some(addr), crds: crd::all(), ..Default::default() },
        std::future::pending(),
    )
    .await?;
    Ok(())
}

const TRUNK_YAML: &str = r#"apiVersion: siptrunk.dev/v1alpha1
kind: SipTrunk
metadata:
  name: main
spec:
  providerRef: {kind: SipProvider, name: p}
  phoneNumber: "+14155551234"
  sipAddress: sip.example.com
  auth: {type: credentials, username: user1, passwordSecretRef: {name: s, key: password}}
  callingFormat: "+e164"
  countryCode: US
"#;

struct Kubectl {
    dir: tempfile::TempDir,
}

impl Kubectl {
    /// Runs kubectl; returns (success, stdout, stderr).
    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Result<(bool, String, String), std::io::Error> {
        let mut cmd = tokio::process::Command::new("/usr/bin/kubectl");
        cmd.arg("--kubeconfig").arg(self.dir.path().join("config"));
        cmd.arg("--cache-dir").arg(self.dir.path().join("cache"));
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().await?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        ))
    }
    async fn ok(&self, args: &[&str]) -> Result<String, String> {
        match self.run(args, &[]).await {
            Ok((true, out, _)) => Ok(out),
            Ok((false, out, err)) => Err(format!("kubectl {args:?} failed:\n{out}\n{err}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_end_to_end() -> R {
    if !std::path::Path::new("/usr/bin/kubectl").exists() {
        eprintln!("SKIPPED kubectl_end_to_end: /usr/bin/kubectl is not installed");
        return Ok(());
    }
    let emu = KubeEmulator::start(EmulatorOptions::default()).await?;
    let k = Kubectl { dir: tempfile::tempdir()? };
    emu.write_kubeconfig(&k.dir.path().join("config"))?;
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/");
    let out = k.ok(&["apply", "-f", crds]).await?;
    assert!(out.contains("siptrunks.siptrunk.dev created"), "{out}");
    let file = k.dir.path().join("trunk.yaml");
    std::fs::write(&file, TRUNK_YAML)?;
    let file = file.to_string_lossy().to_string();

    // client-side apply: create, then an unchanged re-apply
    let out = k.ok(&["apply", "-f", &file]).await?;
    assert!(out.contains("siptrunk.siptrunk.dev/main created"), "{out}");
    let out = k.ok(&["apply", "-f", &file]).await?;
    assert!(out.contains("unchanged"), "{out}");
    // server-side apply of a changed file
    std::fs::write(&file, TRUNK_YAML.replace("countryCode: US", "countryCode: CA"))?;
    let out = k.ok(&["apply", "--server-side", "-f", &file]).await?;
    assert!(out.contains("serverside-applied"), "{out}");
    let out = k.ok(&["get", "siptrunk", "main", "-o", "jsonpath={.spec.countryCode} {.metadata.generation}"]).await?;
    assert_eq!(out, "CA 2");

    // printer columns, short name, category, wide
    let out = k.ok(&["get", "siptrunks"]).await?;
    let header = out.lines().next().unwrap_or_default();
    for col in ["NAME", "PROVIDER", "TRUNK ID", "READY", "AGE"] {
        assert!(header.contains(col), "missing {col} in {header:?}");
    }
    assert!(!header.contains("REASON"), "priority-1 column shown without -o wide: {header}");
    assert!(out.contains("main") && out.contains(" p "), "{out}");
    let out = k.ok(&["get", "st", "-o", "wide"]).await?;
    assert!(out.lines().next().unwrap_or_default().contains("REASON"), "{out}");
    let out = k.ok(&["get", "siptrunk-operator"]).await?;
    assert!(out.contains("siptrunk.siptrunk.dev/main"), "{out}");

    // status printed through the Ready filter column
    let api: Api<SipTrunk> = Api::default_namespaced(emu.client()?);
    api.patch_status("main", &PatchParams::apply("test"), &Patch::Apply(json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
        "status": {"trunkId": "42", "conditions": [{"type": "Ready", "status": "True", "reason": "Synced", "message": "", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}}))).await?;
    let out = k.ok(&["get", "st"]).await?;
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(row.contains("42") && row.contains("True"), "{out}");

    // explain reads the CRD descriptions
    let out = k.ok(&["explain", "siptrunk.spec.auth"]).await?;
    assert!(out.contains("allowedInboundIps") && out.contains("How the trunk authenticates"), "{out}");

    // validation errors come back the way kubectl prints them
    std::fs::write(
        &file,
        TRUNK_YAML.replace("name: main", "name: bad").replace(
            "type: credentials, username: user1, passwordSecretRef: {name: s, key: password}",
            "type: ip, username: user1",
        ),
    )?;
    let (ok, _, err) = k.run(&["apply", "-f", &file], &[]).await?;
    assert!(!ok && err.contains("is invalid") && err.contains("spec.auth.allowedInboundIps"), "{err}");

    // edit through $KUBE_EDITOR, label, merge patch
    let (ok, out, err) = k.run(&["edit", "siptrunk", "main"], &[("KUBE_EDITOR", "sed -i s/user1/user2/")]).await?;
    assert!(ok, "{out}{err}");
    let out = k.ok(&["get", "st", "main", "-o", "jsonpath={.spec.auth.username}"]).await?;
    assert_eq!(out, "user2");
    k.ok(&["label", "st", "main", "env=dev"]).await?;
    assert!(k.ok(&["get", "st", "-l", "env=dev", "-o", "name"]).await?.contains("siptrunk.siptrunk.dev/main"));

    // Secrets through apply, get with Type/Data columns
    let sec = k.dir.path().join("secret.yaml");
    std::fs::write(&sec, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: pw}\n")?;
    k.ok(&["apply", "-f", &sec.to_string_lossy()]).await?;
    let out = k.ok(&["get", "secrets"]).await?;
    assert!(out.contains("Opaque") && out.contains("DATA"), "{out}");
    // kubectl create secret sends protobuf
    k.ok(&["create", "secret", "generic", "pw", "--from-literal=password=pw"]).await?;
    assert_eq!(k.ok(&["get", "secret", "pw", "-o", "jsonpath={.data.password}"]).await?, "cHc=");

    // delete (waits for the object to go, through a watch)
    let out = k.ok(&["delete", "siptrunk", "main"]).await?;
    assert!(out.contains("deleted"), "{out}");
    let (ok, _, err) = k.run(&["get", "siptrunk", "main"], &[]).await?;
    assert!(!ok && err.contains("NotFound"), "{err}");
    let calls = emu.calls();
    assert!(calls.iter().any(|c| c.verb == "delete" && c.resource == "siptrunks"));
    emu.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_converges_under_faults() -> R {
    use kube::Resource;
    use kube::runtime::controller::{Action, Controller};
    use kube::runtime::events::{Event as KEvent, EventType, Recorder, Reporter};
    use std::sync::Arc;
    let (emu, client) = emu().await?;
    emu.faults().set_seed(7);
    emu.faults().set_conflict_ratio(0.3);
    emu.faults().set_watch_cut_after_events(Some(3));
    emu.faults().set_latency(Duration::from_millis(2));
    let api: Api<SipTrunk> = Api::default_namespaced(client.clone());
    let recorder = Recorder::new(client.clone(), Reporter { controller: "kubeemu-test".into(), instance: None });
    struct Ctx {
        api: Api<SipTrunk>,
        recorder: Recorder,
    }
    let ctx = Arc::new(Ctx { api: api.clone(), recorder });
    let reconcile = |t: Arc<SipTrunk>, ctx: Arc<Ctx>| async move {
        let name = t.metadata.name.clone().unwrap_or_default();
        let status = json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
            "status": {"trunkId": format!("id-{name}"), "observedGeneration": t.metadata.generation}});
        ctx.api.patch_status(&name, &PatchParams::apply("kubeemu-test").force(), &Patch::Apply(status)).await?;
        let ev = KEvent {
            type_: EventType::Normal,
            reason: "Synced".into(),
            note: None,
            action: "Reconcile".into(),
            secondary: None,
        };
        ctx.recorder.publish(&ev, &t.object_ref(&())).await?;
        Ok::<Action, kube::Error>(Action::await_change())
    };
    let error_policy = |_: Arc<SipTrunk>, _: &kube::Error, _: Arc<Ctx>| Action::requeue(Duration::from_millis(50));
    let ctrl = tokio::spawn(
        Controller::new(api.clone(), watcher::Config::default())
            .run(reconcile, error_policy, ctx)
            .for_each(|_| async {}),
    );
    for i in 0..6 {
        let mut created = false;
        for _ in 0..20 {
            if api.create(&PostParams::default(), &trunk(&format!("c{i}"))?).await.is_ok() {
                created = true;
                break;
            }
        }
        assert!(created);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list = api.list(&ListParams::default()).await?;
        let done = list
            .items
            .iter()
            .filter(|t| {
                t.status.as_ref().and_then(|s| s.trunk_id.as_deref())
                    == t.metadata.name.as_ref().map(|n| format!("id-{n}")).as_deref()
            })
            .count();
        if done == 6 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {done}/6 trunks reconciled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ctrl.abort();
    let calls = emu.calls();
    assert!(calls.iter().any(|c| c.status == 409), "conflict fault never fired");
    assert!(calls.iter().any(|c| c.rbac() == "create events.k8s.io/events"), "no events recorded");
    assert!(calls.iter().filter(|c| c.verb == "watch").count() > 1, "watch cut fault never fired");
    emu.faults().reset();
    emu.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn deleting_a_namespace_terminates_it_and_waits_for_finalizers() -> R {
    use k8s_openapi::api::core::v1::Namespace;
    let (_e, c) = emu().await?;
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "doomed"}}))?).await?;
    let secrets: Api<Secret> = Api::namespaced(c.clone(), "doomed");
    for (name, finalizers) in [("held", json!(["example.com/hold"])), ("free", json!([]))] {
        let s: Secret = serde_json::from_value(json!({"metadata": {"name": name, "finalizers": finalizers}}))?;
        secrets.create(&PostParams::default(), &s).await?;
    }
    nss.delete("doomed", &DeleteParams::default()).await?;

    let ns = nss.get("doomed").await?;
    assert!(ns.metadata.deletion_timestamp.is_some());
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Terminating"));
    assert!(secrets.get_opt("free").await?.is_none(), "objects without finalizers go at once");
    let held = secrets.get("held").await?;
    assert!(held.metadata.deletion_timestamp.is_some(), "objects with finalizers turn Terminating");
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": "late"}}))?;
    let err = secrets.create(&PostParams::default(), &s).await.expect_err("create in a Terminating namespace");
    assert_eq!(code(&err), Some(403), "{err}");

    // Removing the last finalizer removes the object, and then the namespace.
    secrets.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await?;
    assert!(secrets.get_opt("held").await?.is_none());
    assert!(nss.get_opt("doomed").await?.is_none(), "the empty namespace is gone");
    Ok(())
}
