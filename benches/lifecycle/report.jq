# Renders benches/lifecycle.sh's result JSON as the markdown table:
#   jq -r -f benches/lifecycle/report.jq target/bench/lifecycle-latest.json
def f: if . == null then "–" else (. * 100 | round / 100 | tostring) end;
  def cell($x): if $x == null then "–" elif $x.error then "FAIL" else
      "\($x.median_ms | f) (\($x.min_ms | f)–\($x.max_ms | f))" end;
  def ratio($a; $b): if ($a.median_ms // null) == null or ($b.median_ms // null) == null then "–"
      else ($a.median_ms / $b.median_ms * 100 | round / 100 | tostring) end;
  def kib: if . == null then "–" else (. / 1024 * 10 | round / 10 | tostring) + " MB" end;
  def mb: if . == null then "–" else (. / 1048576 * 10 | round / 10 | tostring) + " MB" end;
  .containers as $ncont | (.parallel // 8) as $npar | .scenarios as $s |
  "Machine: \(.machine.cpu), \(.machine.nproc) CPUs, Linux \(.machine.kernel), cgroups \(.machine.cgroups), load average \(.machine.loadavg // "?") (start -> end); \(.date); mode \(.mode): \(.runs) runs + \(.warmup) warm-up per command, \(.containers) containers.",
  "Versions: iso-runtime \(.versions["iso-runtime"]) (git \(.versions.iso_git)), \(.versions.crun), \(.versions.runc).",
  "Conditions: \(.conditions // "not recorded (a run before issue 24: crun went through a per-call wrapper)").",
  "",
  "Median ms (min–max) | iso-runtime | crun | runc | floor | iso/crun | iso/runc",
  "---|---|---|---|---|---|---",
  ( [["cycle", "create; start; wait; delete of /bin/true"], ["run", "run (container removed on exit) of /bin/true"],
     ["create", "create alone"], ["state", "state, 1 running container"], ["list-1", "list, 1 running container"],
     ["list-created-\($ncont)", "list, \($ncont) created containers"], ["state-created-\($ncont)", "state, \($ncont) created containers"],
     ["create-alive-\($ncont)", "create with \($ncont) containers alive"],
     ["list-\($ncont)", "list, \($ncont) running containers"], ["state-\($ncont)", "state, \($ncont) running containers"],
     ["run-x\($npar)", "\($npar) concurrent runs of /bin/true, one state root"]][]
    | . as [$k, $what] | ($s[$k] // {}) as $r
    | "\($what) | \(cell($r["iso-runtime"])) | \(cell($r.crun)) | \(cell($r.runc)) | \(cell($r.floor)) | \(ratio($r["iso-runtime"]; $r.crun)) | \(ratio($r["iso-runtime"]; $r.runc))" ),
  "peak RSS of `run` (ru_maxrss) | \(.peak_rss_kib.run["iso-runtime"] | kib) | \(.peak_rss_kib.run.crun | kib) | \(.peak_rss_kib.run.runc | kib) | \(.peak_rss_kib.run.floor | kib) | – | –",
  "peak RSS of `state` | \(.peak_rss_kib.state["iso-runtime"] | kib) | \(.peak_rss_kib.state.crun | kib) | \(.peak_rss_kib.state.runc | kib) | – | – | –",
  "binary size | \(.binary_bytes["iso-runtime"] | mb) | \(.binary_bytes.crun | mb) | \(.binary_bytes.runc | mb) | – | – | –",
  "",
  "floor = clone into the same 5 namespaces + pivot_root + exec /bin/true, no runtime logic (benches/lifecycle/isobench.rs).",
  "Containers listed by `list` with \($ncont) alive: iso-runtime \(.many.listed["iso-runtime"] // "–"), crun \(.many.listed.crun // "–"), runc \(.many.listed.runc // "–"); time to create all: iso-runtime \(.many.start_all_ms["iso-runtime"] // "–") ms, crun \(.many.start_all_ms.crun // "–") ms, runc \(.many.start_all_ms.runc // "–") ms.",
  "",
  "Targets of issue 24 (same run; a report, not a test):",
  ( def med($k; $n): ($s[$k] // {})[$n].median_ms // null;
    def chk($ok): if $ok == null then "n/a " elif $ok then "met " else "MISSED" end;
    def q($a; $b): if $a == null or $b == null then null else $a / $b end;
    def r2: if . == null then "?" else (. * 100 | round / 100 | tostring) end;
    def le($x; $t): if $x == null then null else $x <= $t end;
    (q(med("run"; "iso-runtime"); med("run"; "crun"))) as $r1 |
    (q(med("run"; "iso-runtime"); med("run"; "floor"))) as $r2 |
    (q(med("cycle"; "iso-runtime"); med("cycle"; "crun"))) as $c1 |
    (q(med("cycle"; "iso-runtime"); med("cycle"; "floor"))) as $c2 |
    (q(med("state-created-\($ncont)"; "iso-runtime"); med("state-created-\($ncont)"; "crun"))) as $sc |
    (q(med("list-created-\($ncont)"; "iso-runtime"); med("list-created-\($ncont)"; "crun"))) as $lc |
    (.peak_rss_kib.run["iso-runtime"]) as $ri | (.binary_bytes["iso-runtime"]) as $bi |
    "- \(chk(le($r1; 0.5))) run iso/crun \($r1 | r2) (target <= 0.5)",
    "- \(chk(le($r2; 2.5))) run iso/floor \($r2 | r2) (target <= 2.5)",
    "- \(chk(le($c1; 0.5))) cycle iso/crun \($c1 | r2) (target <= 0.5)",
    "- \(chk(le($c2; 2.5))) cycle iso/floor \($c2 | r2) (target <= 2.5)",
    "- \(chk(le($sc; 1))) state of a created container (\($ncont) created) iso/crun \($sc | r2) (no wake-up of the init; target <= 1)",
    "- \(chk(le($lc; 1))) list of \($ncont) created containers iso/crun \($lc | r2) (target <= 1)",
    "- \(chk(if $ri == null then null else $ri <= 2048 end)) peak RSS of run: iso-runtime \($ri // "?") KiB (target <= 2 MB)",
    "- \(chk(if $bi == null then null else $bi <= 3145728 end)) binary size: iso-runtime \($bi // "?") bytes (target <= 3 MB)" ),
  ( [ $s | to_entries[] | .key as $k | .value | to_entries[] | select(.value.error) | "- FAIL \(.key) in \($k): \(.value.error)" ]
    | if length > 0 then ("", "Failures:") , .[] else empty end )
