# Renders benches/lifecycle.sh's result JSON as the markdown table:
#   jq -r -f benches/lifecycle/report.jq target/bench/lifecycle-latest.json
def f: if . == null then "–" else (. * 100 | round / 100 | tostring) end;
  def cell($x): if $x == null then "–" elif $x.error then "FAIL" else
      "\($x.median_ms | f) (\($x.min_ms | f)–\($x.max_ms | f))" end;
  def ratio($a; $b): if ($a.median_ms // null) == null or ($b.median_ms // null) == null then "–"
      else ($a.median_ms / $b.median_ms * 100 | round / 100 | tostring) end;
  def kib: if . == null then "–" else (. / 1024 * 10 | round / 10 | tostring) + " MB" end;
  def mb: if . == null then "–" else (. / 1048576 * 10 | round / 10 | tostring) + " MB" end;
  .containers as $ncont | .scenarios as $s |
  "Machine: \(.machine.cpu), \(.machine.nproc) CPUs, Linux \(.machine.kernel), cgroups \(.machine.cgroups), load average \(.machine.loadavg // "?") (start -> end); \(.date); mode \(.mode): \(.runs) runs + \(.warmup) warm-up per command, \(.containers) containers.",
  "Versions: iso-runtime \(.versions["iso-runtime"]) (git \(.versions.iso_git)), \(.versions.crun), \(.versions.runc).",
  "",
  "Median ms (min–max) | iso-runtime | crun | runc | floor | iso/crun | iso/runc",
  "---|---|---|---|---|---|---",
  ( [["cycle", "create; start; wait; delete of /bin/true"], ["run", "run (container removed on exit) of /bin/true"],
     ["create", "create alone"], ["state", "state, 1 running container"], ["list-1", "list, 1 running container"],
     ["list-\($ncont)", "list, \($ncont) running containers"], ["state-\($ncont)", "state, \($ncont) running containers"]][]
    | . as [$k, $what] | ($s[$k] // {}) as $r
    | "\($what) | \(cell($r["iso-runtime"])) | \(cell($r.crun)) | \(cell($r.runc)) | \(cell($r.floor)) | \(ratio($r["iso-runtime"]; $r.crun)) | \(ratio($r["iso-runtime"]; $r.runc))" ),
  "peak RSS of `run` (ru_maxrss) | \(.peak_rss_kib.run["iso-runtime"] | kib) | \(.peak_rss_kib.run.crun | kib) | \(.peak_rss_kib.run.runc | kib) | \(.peak_rss_kib.run.floor | kib) | – | –",
  "peak RSS of `state` | \(.peak_rss_kib.state["iso-runtime"] | kib) | \(.peak_rss_kib.state.crun | kib) | \(.peak_rss_kib.state.runc | kib) | – | – | –",
  "binary size | \(.binary_bytes["iso-runtime"] | mb) | \(.binary_bytes.crun | mb) | \(.binary_bytes.runc | mb) | – | – | –",
  "",
  "floor = clone into the same 5 namespaces + pivot_root + exec /bin/true, no runtime logic (benches/lifecycle/isobench.rs).",
  "crun runs through a one-process wrapper (private mount ns, empty cgroup2 controllers file); the wrapper alone costs \(($s["crun-wrapper"]["crun-hybrid"].median_ms // null) as $h | ($s["crun-wrapper"]["crun-direct"].median_ms // null) as $d | if $h and $d then (($h - $d) | f) + " ms" else "?" end) (`crun --version` through it vs direct), included in crun's times.",
  "Containers listed by `list` with \($ncont) alive: iso-runtime \(.many.listed["iso-runtime"] // "–"), crun \(.many.listed.crun // "–"), runc \(.many.listed.runc // "–"); time to create+start all: iso-runtime \(.many.start_all_ms["iso-runtime"] // "–") ms, crun \(.many.start_all_ms.crun // "–") ms, runc \(.many.start_all_ms.runc // "–") ms.",
  "",
  "Targets of issue 11 (same run; a report, not a test):",
  ( def med($k; $n): ($s[$k] // {})[$n].median_ms // null;
    def chk($ok): if $ok == null then "n/a " elif $ok then "met " else "MISSED" end;
    def q($a; $b): if $a == null or $b == null then null else $a / $b end;
    def r2: if . == null then "?" else (. * 100 | round / 100 | tostring) end;
    (q(med("cycle"; "iso-runtime"); med("cycle"; "crun"))) as $c1 |
    (q(med("cycle"; "iso-runtime"); med("cycle"; "runc"))) as $c2 |
    (q(med("state"; "iso-runtime"); med("state"; "crun"))) as $st |
    (q(med("list-\($ncont)"; "iso-runtime"); med("list-1"; "iso-runtime"))) as $gi |
    (q(med("list-\($ncont)"; "crun"); med("list-1"; "crun"))) as $gc |
    (.peak_rss_kib.run["iso-runtime"]) as $ri | (.peak_rss_kib.run.crun) as $rc |
    "- \(chk(if $c1 == null then null else $c1 <= 0.8 end)) cycle iso/crun \($c1 | r2) (target <= 0.8, aim 0.5)",
    "- \(chk(if $c2 == null then null else $c2 <= 0.4 end)) cycle iso/runc \($c2 | r2) (target <= 0.4)",
    "- \(chk(if $st == null then null else $st <= 1 end)) state iso/crun \($st | r2) (target <= 1)",
    "- \(chk(if $gi == null then null else $gi <= ([$gc // 1, 1.5] | max) end)) list growth 1 -> \($ncont) containers: iso-runtime x\($gi | r2), crun x\($gc | r2) (target: flat, no worse than crun)",
    "- \(chk(if $ri == null or $rc == null then null else $ri <= $rc end)) peak RSS of run: iso-runtime \($ri // "?") KiB, crun \($rc // "?") KiB (target <= crun)" ),
  ( [ $s | to_entries[] | .key as $k | .value | to_entries[] | select(.value.error) | "- FAIL \(.key) in \($k): \(.value.error)" ]
    | if length > 0 then ("", "Failures:") , .[] else empty end )
