//! CRI test client of the clients suite: drives containerd's CRI plugin the way the kubelet
//! does for a pod whose RuntimeClass handler is iso-runtime, and checks each step on the host.
//!
//! ```text
//! iso-cri-test --socket S --handler H --cgroup-parent /P --runtime BIN --runtime-root R --image REF
//! ```
//!
//! Creates a pod sandbox (pod network through the CNI plugin that tests/clients/cri.sh sets
//! up), a container in it with memory and cpu limits, starts it, execs into it (ExecSync),
//! stops and removes both. After each step it checks what the kernel and iso-runtime show:
//! the state iso-runtime keeps under `R/k8s.io` (so the container was made by iso-runtime,
//! not by another runtime), the cgroups under `/P` on the host, and that the container shares
//! the sandbox's network namespace. Exits non-zero with the reason on the first failed check,
//! after removing what it made.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatusRequest,
    CreateContainerRequest, ExecSyncRequest, ImageSpec, LinuxContainerConfig,
    LinuxContainerResources, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    ListContainersRequest, ListPodSandboxRequest, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, PodSandboxState, PodSandboxStatusRequest, RemoveContainerRequest,
    RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest, StopContainerRequest,
    StopPodSandboxRequest, VersionRequest,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// What went wrong, named.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("usage: {0}")]
    Usage(String),
    #[error("connecting to {socket}: {source}")]
    Connect {
        socket: String,
        source: tonic::transport::Error,
    },
    #[error("CRI {call}: {status}")]
    Rpc {
        call: &'static str,
        status: tonic::Status,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("check failed: {0}")]
    Check(String),
}

type Result<T> = std::result::Result<T, Error>;

/// The command line.
struct Args {
    socket: String,
    handler: String,
    cgroup_parent: String,
    runtime: PathBuf,
    runtime_root: PathBuf,
    image: String,
    log_dir: PathBuf,
}

impl Args {
    fn parse() -> Result<Self> {
        let mut m = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            let v = it
                .next()
                .ok_or_else(|| Error::Usage(format!("{k} needs a value")))?;
            m.insert(k, v);
        }
        let mut take = |k: &str| {
            m.remove(k)
                .ok_or_else(|| Error::Usage(format!("missing {k}")))
        };
        Ok(Self {
            socket: take("--socket")?,
            handler: take("--handler")?,
            cgroup_parent: take("--cgroup-parent")?,
            runtime: take("--runtime")?.into(),
            runtime_root: take("--runtime-root")?.into(),
            image: take("--image")?,
            log_dir: take("--log-dir")?.into(),
        })
    }
}

fn ok(what: impl std::fmt::Display) {
    println!("[cri] ok: {what}");
}

fn check(cond: bool, what: impl std::fmt::Display) -> Result<()> {
    if cond {
        ok(what);
        Ok(())
    } else {
        Err(Error::Check(what.to_string()))
    }
}

fn rpc(call: &'static str) -> impl FnOnce(tonic::Status) -> Error {
    move |status| Error::Rpc { call, status }
}

/// iso-runtime's `state` of a container in containerd's `k8s.io` namespace, or None when
/// iso-runtime does not know it.
fn runtime_state(args: &Args, id: &str) -> Result<Option<serde_json::Value>> {
    let out = Command::new(&args.runtime)
        .arg("--root")
        .arg(args.runtime_root.join("k8s.io"))
        .args(["state", id])
        .output()
        .map_err(|source| Error::Io {
            what: format!("running {} state {id}", args.runtime.display()),
            source,
        })?;
    if !out.status.success() {
        return Ok(None);
    }
    serde_json::from_slice(&out.stdout)
        .map(Some)
        .map_err(|e| Error::Check(format!("iso-runtime state {id} is not JSON: {e}")))
}

/// The init pid of a running container, from iso-runtime's state.
fn running_pid(args: &Args, id: &str, what: &str) -> Result<u64> {
    let st = runtime_state(args, id)?
        .ok_or_else(|| Error::Check(format!("iso-runtime has no state for the {what} {id}")))?;
    check(
        st["status"] == "running",
        format_args!("iso-runtime state of the {what}: {}", st["status"]),
    )?;
    st["pid"]
        .as_u64()
        .ok_or_else(|| Error::Check(format!("iso-runtime state of the {what} has no pid")))
}

fn host_cgroup(args: &Args, controller: &str, id: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(args.cgroup_parent.trim_start_matches('/'))
        .join(id)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| Error::Io {
            what: format!("reading {}", path.display()),
            source,
        })
}

fn netns(pid: u64) -> Result<PathBuf> {
    let p = format!("/proc/{pid}/ns/net");
    std::fs::read_link(&p).map_err(|source| Error::Io { what: p, source })
}

async fn connect(socket: &str) -> Result<RuntimeServiceClient<Channel>> {
    let path = socket.to_owned();
    let channel = Endpoint::from_static("http://[::]:50051")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .map_err(|source| Error::Connect {
            socket: socket.to_owned(),
            source,
        })?;
    Ok(RuntimeServiceClient::new(channel))
}

/// What the test made, so that a failure can remove it.
#[derive(Default)]
struct Made {
    pod: Option<String>,
    container: Option<String>,
}

async fn run(args: &Args, cri: &mut RuntimeServiceClient<Channel>, made: &mut Made) -> Result<()> {
    let v = cri
        .version(VersionRequest::default())
        .await
        .map_err(rpc("Version"))?
        .into_inner();
    ok(format_args!(
        "{} {} (CRI {})",
        v.runtime_name, v.runtime_version, v.runtime_api_version
    ));

    // The pod sandbox: its own network namespace (set up by the CNI plugin), cgroups under
    // the absolute parent.
    let pod_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "iso-pod".into(),
            uid: format!("iso-test-{}", std::process::id()),
            namespace: "iso-test".into(),
            attempt: 0,
        }),
        hostname: "iso-pod".into(),
        log_directory: args.log_dir.display().to_string(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: args.cgroup_parent.clone(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Pod.into(),
                    pid: NamespaceMode::Container.into(),
                    ipc: NamespaceMode::Pod.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod = cri
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(pod_config.clone()),
            runtime_handler: args.handler.clone(),
        })
        .await
        .map_err(rpc("RunPodSandbox"))?
        .into_inner()
        .pod_sandbox_id;
    made.pod = Some(pod.clone());
    ok(format_args!("RunPodSandbox {pod}"));
    let st = cri
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await
        .map_err(rpc("PodSandboxStatus"))?
        .into_inner()
        .status
        .ok_or_else(|| Error::Check("PodSandboxStatus has no status".into()))?;
    check(
        st.state == PodSandboxState::SandboxReady as i32,
        "sandbox is READY",
    )?;
    check(
        st.runtime_handler == args.handler,
        format_args!("sandbox runtime handler is {}", st.runtime_handler),
    )?;
    let ip = st.network.map(|n| n.ip).unwrap_or_default();
    check(!ip.is_empty(), format_args!("sandbox IP from CNI: {ip}"))?;
    let pod_pid = running_pid(args, &pod, "sandbox")?;
    let procs = read(&host_cgroup(args, "pids", &pod).join("cgroup.procs"))?;
    check(
        procs.lines().any(|l| l == pod_pid.to_string()),
        format_args!("sandbox init {pod_pid} is in {}/{pod}", args.cgroup_parent),
    )?;

    // A container in the pod, with resources.
    let container = cri
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(ContainerConfig {
                metadata: Some(ContainerMetadata {
                    name: "sleeper".into(),
                    attempt: 0,
                }),
                image: Some(ImageSpec {
                    image: args.image.clone(),
                    ..Default::default()
                }),
                command: vec!["/bin/sleep".into(), "300".into()],
                log_path: "sleeper.log".into(),
                linux: Some(LinuxContainerConfig {
                    resources: Some(LinuxContainerResources {
                        cpu_period: 100_000,
                        cpu_quota: 50_000,
                        memory_limit_in_bytes: 64 << 20,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            sandbox_config: Some(pod_config.clone()),
        })
        .await
        .map_err(rpc("CreateContainer"))?
        .into_inner()
        .container_id;
    made.container = Some(container.clone());
    ok(format_args!("CreateContainer {container}"));
    cri.start_container(StartContainerRequest {
        container_id: container.clone(),
    })
    .await
    .map_err(rpc("StartContainer"))?;
    ok("StartContainer");
    check(
        container_state(cri, &container).await? == ContainerState::ContainerRunning,
        "container is RUNNING",
    )?;
    let pid = running_pid(args, &container, "container")?;
    check(
        netns(pid)? == netns(pod_pid)?,
        "the container shares the sandbox's network namespace",
    )?;
    let mem = read(&host_cgroup(args, "memory", &container).join("memory.limit_in_bytes"))?;
    check(
        mem == (64u64 << 20).to_string(),
        format_args!("memory.limit_in_bytes on the host: {mem}"),
    )?;
    let quota = read(&host_cgroup(args, "cpu", &container).join("cpu.cfs_quota_us"))?;
    check(
        quota == "50000",
        format_args!("cpu.cfs_quota_us on the host: {quota}"),
    )?;

    // ExecSync: output, the pod's network, exit codes.
    let r = exec(
        cri,
        &container,
        &["/bin/sh", "-c", "echo exec-ok; ls /sys/class/net"],
    )
    .await?;
    let out = String::from_utf8_lossy(&r.stdout);
    check(
        r.exit_code == 0 && out.lines().next() == Some("exec-ok"),
        format_args!("ExecSync echo: exit {}, stdout {out:?}", r.exit_code),
    )?;
    check(
        out.lines().any(|l| l == "eth0"),
        "ExecSync sees the pod's eth0 (made by the CNI plugin)",
    )?;
    let r = exec(cri, &container, &["/bin/sh", "-c", "echo oops >&2; exit 3"]).await?;
    check(
        r.exit_code == 3 && String::from_utf8_lossy(&r.stderr).trim() == "oops",
        format_args!("ExecSync exit 3: exit {}", r.exit_code),
    )?;

    // A container whose program does not exist: StartContainer fails with iso-runtime's own
    // message (containerd reads it from the runtime's --log JSON).
    let mut broken = ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "broken".into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: args.image.clone(),
            ..Default::default()
        }),
        command: vec!["/no/such/program".into()],
        log_path: "broken.log".into(),
        ..Default::default()
    };
    broken.linux = Some(LinuxContainerConfig::default());
    let bad = cri
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(broken),
            sandbox_config: Some(pod_config),
        })
        .await
        .map_err(rpc("CreateContainer"))?
        .into_inner()
        .container_id;
    let err = cri
        .start_container(StartContainerRequest {
            container_id: bad.clone(),
        })
        .await
        .err()
        .map(|s| s.message().to_owned())
        .unwrap_or_default();
    check(
        err.contains("OCI runtime create failed")
            && err.contains("process.args: exec /no/such/program")
            // the shim falls back to stderr only when the --log JSON has no error
            && !err.contains("did not terminate successfully"),
        format_args!("StartContainer of a missing program fails with iso-runtime's error: {err}"),
    )?;
    cri.remove_container(RemoveContainerRequest {
        container_id: bad.clone(),
    })
    .await
    .map_err(rpc("RemoveContainer"))?;

    // Stop and remove the container, then the pod.
    cri.stop_container(StopContainerRequest {
        container_id: container.clone(),
        timeout: 2,
    })
    .await
    .map_err(rpc("StopContainer"))?;
    check(
        container_state(cri, &container).await? == ContainerState::ContainerExited,
        "container is EXITED after StopContainer",
    )?;
    cri.remove_container(RemoveContainerRequest {
        container_id: container.clone(),
    })
    .await
    .map_err(rpc("RemoveContainer"))?;
    made.container = None;
    check(
        runtime_state(args, &container)?.is_none(),
        "iso-runtime has no state for the removed container",
    )?;
    check(
        !host_cgroup(args, "memory", &container).exists(),
        "the container's cgroup is gone",
    )?;
    cri.stop_pod_sandbox(StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await
    .map_err(rpc("StopPodSandbox"))?;
    ok("StopPodSandbox");
    cri.remove_pod_sandbox(RemovePodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await
    .map_err(rpc("RemovePodSandbox"))?;
    made.pod = None;
    ok("RemovePodSandbox");
    check(
        runtime_state(args, &pod)?.is_none(),
        "iso-runtime has no state for the removed sandbox",
    )?;
    check(
        !host_cgroup(args, "pids", &pod).exists(),
        "the sandbox's cgroup is gone",
    )?;
    let pods = cri
        .list_pod_sandbox(ListPodSandboxRequest::default())
        .await
        .map_err(rpc("ListPodSandbox"))?
        .into_inner()
        .items;
    let containers = cri
        .list_containers(ListContainersRequest::default())
        .await
        .map_err(rpc("ListContainers"))?
        .into_inner()
        .containers;
    check(
        pods.is_empty() && containers.is_empty(),
        format_args!(
            "CRI lists no pod and no container ({} pods, {} containers)",
            pods.len(),
            containers.len()
        ),
    )
}

async fn container_state(
    cri: &mut RuntimeServiceClient<Channel>,
    id: &str,
) -> Result<ContainerState> {
    let st = cri
        .container_status(ContainerStatusRequest {
            container_id: id.to_owned(),
            verbose: false,
        })
        .await
        .map_err(rpc("ContainerStatus"))?
        .into_inner()
        .status
        .ok_or_else(|| Error::Check("ContainerStatus has no status".into()))?;
    Ok(ContainerState::try_from(st.state).unwrap_or(ContainerState::ContainerUnknown))
}

async fn exec(
    cri: &mut RuntimeServiceClient<Channel>,
    id: &str,
    cmd: &[&str],
) -> Result<k8s_cri::v1::ExecSyncResponse> {
    Ok(cri
        .exec_sync(ExecSyncRequest {
            container_id: id.to_owned(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: 10,
        })
        .await
        .map_err(rpc("ExecSync"))?
        .into_inner())
}

/// Removes what a failed run left, best effort and within 30 s (the suite's cleanup and leak
/// check deal with the rest).
async fn clean(cri: &mut RuntimeServiceClient<Channel>, made: Made) {
    let _ = tokio::time::timeout(Duration::from_secs(30), clean_now(cri, made)).await;
}

async fn clean_now(cri: &mut RuntimeServiceClient<Channel>, made: Made) {
    if let Some(id) = made.container {
        let _ = cri
            .remove_container(RemoveContainerRequest { container_id: id })
            .await;
    }
    if let Some(id) = made.pod {
        let _ = cri
            .stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: id.clone(),
            })
            .await;
        let _ = cri
            .remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
            .await;
    }
}

async fn main_async() -> Result<()> {
    let args = Args::parse()?;
    let mut cri = connect(&args.socket).await?;
    let mut made = Made::default();
    let res = tokio::time::timeout(Duration::from_secs(120), run(&args, &mut cri, &mut made))
        .await
        .unwrap_or_else(|_| Err(Error::Check("the CRI test did not finish in 120 s".into())));
    if res.is_err() {
        clean(&mut cri, made).await;
    }
    res
}

fn main() -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("[cri] FAIL: tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(main_async()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[cri] FAIL: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
