# testing.sh: what the shell tests share (testing.h's counterpart), sourced first by a tests/test_*.sh:
# H, the hashemb binary ($HASHEMB, set by run_tests.sh); SRC, the checkout; T, a scratch directory
# removed at exit; bad, which prints a FAIL line and marks the test failed (exit $fail at the end);
# mkcopy, a fresh copy of the sweep driver, sweeps and plots; nres, the result rows in a runs/
# directory; waitfor, until a glob matches (60 s); "${WITH_SIGNALS[@]}" CMD..., which execs CMD with
# SIGINT, SIGTERM and SIGHUP at their defaults (a shell started in the background, or under nohup,
# passes them on ignored, and a shell cannot undo that itself; perl is in every Debian). A command,
# not a function: `"${WITH_SIGNALS[@]}" CMD &` leaves $! the pid of CMD itself. signal_check SIG STATUS
# GLOB CMD...: runs CMD in the background, sends SIG once $T/GLOB exists, and prints what went wrong
# (nothing when CMD ended with STATUS and left nothing named $T/sig*).
set -u
H=${HASHEMB:?set HASHEMB to the hashemb binary (run_tests.sh does)}
SRC=$PWD
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "  FAIL: $*" >&2; fail=1; }
mkcopy() {
    rm -rf "$1"; mkdir -p "$1"
    cp -r "$SRC/run_all.sh" "$SRC/experiments" "$SRC/plots" "$1/"
    rm -rf "$1/plots/out"
}
nres() { local n=0 f; for f in "$1"/*.tsv; do case $f in *.curve.tsv) ;; *) [ -f "$f" ] && n=$((n + 1)) ;; esac; done; echo $n; }
waitfor() { local i; for i in $(seq 1200); do compgen -G "$1" > /dev/null && return 0; sleep 0.05; done; return 1; }
WITH_SIGNALS=(perl -e '$SIG{$_} = "DEFAULT" for qw(INT TERM HUP); exec @ARGV or die "exec $ARGV[0]: $!\n"')
signal_check() {
    local sig=$1 want=$2 glob=$3 pid rc
    shift 3
    set -m # job control: a background job does not start with SIGINT ignored
    "${WITH_SIGNALS[@]}" "$@" &
    pid=$!
    set +m
    if waitfor "$T/$glob"; then
        kill -STOP $pid; kill -"$sig" $pid; kill -CONT $pid
    else
        echo "SIG$sig: $T/$glob never appeared"
    fi
    { wait $pid; } 2> /dev/null # no job-control notice
    rc=$?
    [ $rc = "$want" ] || echo "SIG$sig once $glob exists: exit $rc, want $want (killed by the signal)"
    ls -d "$T"/sig* > /dev/null 2>&1 && echo "SIG$sig once $glob exists left $(ls -d "$T"/sig*)"
    rm -rf "$T"/sig*
}
