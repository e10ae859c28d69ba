#!/usr/bin/env bash
# make test-slurm: a real single-node Slurm cluster on this machine, started for the test and stopped
# at its end. munged with a key of its own and slurmctld and slurmd from a generated slurm.conf (this
# machine's cores and memory as `slurmd -C` reads them, ports of their own, every file under one
# temporary directory); the tiny sweep through `run_all.sh --emit` and experiments/slurm.sbatch as a
# job array, one thread a task; `run_all.sh --collect` must give a plain run's summary (time, RSS and
# thread columns aside). Then a longer sweep whose first task is requeued (`scontrol requeue`) once
# it has written a checkpoint: the task must start again, continue from its last epoch (--resume, in
# every emitted line) and give the plain run's rows. Nothing is left running: the daemons are stopped
# on every exit path, and the test checks. Needs root (slurmd runs jobs as their user) and Debian's
# slurm-wlm and munge (make deps-slurm installs them).
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
export HASHEMB=${HASHEMB:-$SRC/build/hashemb} HASHEMB_NO_BUILD=1
fail=0
bad() { echo "  FAIL: $*" >&2; fail=1; }
say() { echo "  $*"; }
[ -x "$HASHEMB" ] || { echo "test_slurm: $HASHEMB not built (make)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "test_slurm: needs root (slurmd starts jobs as their user); run it as root, as .ci/run does" >&2; exit 1; }
for c in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo; do
    command -v "$c" > /dev/null || { echo "test_slurm: $c not found: make deps-slurm installs slurm-wlm and munge" >&2; exit 1; }
done

T=$(mktemp -d /tmp/hashemb-slurm.XXXXXX) && chmod 755 "$T"
export SLURM_CONF=$T/slurm.conf
stop_daemons() {
    local p f n
    for f in "$T/slurmd.pid" "$T/slurmctld.pid" "$T/mkey/munged.pid"; do
        [ -s "$f" ] || continue
        p=$(cat "$f")
        kill "$p" 2> /dev/null || continue
        for n in $(seq 100); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
        kill -9 "$p" 2> /dev/null
    done
}
cleanup() {
    stop_daemons
    if pgrep -f "$T" > /dev/null; then pkill -9 -f "$T"; fi # a job step left behind
    if [ -n "${KEEP:-}" ]; then echo "test_slurm: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the cluster ---
mkdir -p "$T/mkey" "$T/msock" "$T/state" "$T/spool" "$T/log" && chmod 700 "$T/mkey" && chmod 755 "$T/msock"
mungekey -c -k "$T/mkey/munge.key" > /dev/null 2>&1 || { echo "test_slurm: mungekey failed" >&2; exit 1; }
munged --key-file="$T/mkey/munge.key" --socket="$T/msock/munge.sock" --pid-file="$T/mkey/munged.pid" \
    --log-file="$T/mkey/munged.log" --seed-file="$T/mkey/munged.seed" ||
    { echo "test_slurm: munged did not start: $(tail -2 "$T/mkey/munged.log" 2>/dev/null)" >&2; exit 1; }
HOST=$(hostname -s)
NODE=$(slurmd -C | head -1) # NodeName=HOST CPUs=... RealMemory=...: this machine as slurmd sees it
CPUS=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<< "$NODE")
free_port() { # the first port from $1 nothing listens on (bash's /dev/tcp: no ss or netstat needed)
    local p
    for p in $(seq "$1" $(($1 + 200))); do (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null || { echo "$p"; return; }; done
    echo "$1"
}
PC=$(free_port 26817); PD=$(free_port $((PC + 1)))
cat > "$SLURM_CONF" << EOF
ClusterName=hashembtest
SlurmctldHost=$HOST
SlurmctldPort=$PC
SlurmdPort=$PD
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$T/msock/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerParameters=sched_interval=1
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobRequeue=1
KillWait=5
MinJobAge=600
$NODE State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF" || { echo "test_slurm: slurmctld did not start: $(tail -3 "$T/log/slurmctld.log")" >&2; exit 1; }
slurmd -f "$SLURM_CONF" || { echo "test_slurm: slurmd did not start: $(tail -3 "$T/log/slurmd.log")" >&2; exit 1; }
for i in $(seq 150); do [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && break; sleep 0.2; done
[ "$(sinfo -h -o %t 2>/dev/null)" = idle ] || { echo "test_slurm: the node never became idle: $(sinfo 2>&1 | tail -1)" >&2; exit 1; }
say "cluster: $HOST, $CPUS CPUs, slurmctld :$PC, slurmd :$PD ($(sinfo -V))"

mkcopy() { mkdir -p "$1" && cp -r "$SRC/run_all.sh" "$SRC/experiments" "$SRC/plots" "$1/" && rm -rf "$1/plots/out"; }
strip() { awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^(peak_rss_bytes|train_seconds|samples_per_sec|threads)_/) drop[i] = 1 }
    { s = ""; for (i = 1; i <= NF; i++) if (!drop[i]) s = s $i "\t"; print s }' "$1"; }
# a row without time, RSS, git_sha and config (whose --data path is the copy's) or run_id (its hash)
rowstrip() { awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^(peak_rss_bytes|git_sha|config|run_id)$/ || $i ~ /_seconds$|_per_sec$/) drop[i] = 1 }
    { s = ""; for (i = 1; i <= NF; i++) if (!drop[i]) s = s $i "\t"; print s }' "$1"; }
# wait_job ID SECONDS: until no task of the job is pending or running (squeue answering; an error,
# e.g. a controller that timed out, is not taken for the end)
wait_job() {
    local i out
    for i in $(seq $(($2 * 5))); do
        if out=$(squeue -h -j "$1" 2>&1); then [ -z "$out" ] && return 0
        elif [[ $out == *"Invalid job id"* ]]; then return 0; fi
        sleep 0.2
    done
    return 1
}

# --- the tiny sweep: plain, and as a Slurm job array ---
mkcopy "$T/plain"
(cd "$T/plain" && ./run_all.sh tiny --threads 1 --no-plots > "$T/plain.out" 2>&1) || bad "plain tiny run: $(tail -2 "$T/plain.out")"
mkcopy "$T/slurm"
(cd "$T/slurm" && ./run_all.sh --emit tiny --threads 1 > "$T/tiny.cmds" 2> "$T/emit.err") || bad "--emit tiny: $(tail -2 "$T/emit.err")"
N=$(wc -l < "$T/tiny.cmds")
[ "$N" = 10 ] || bad "--emit tiny: $N lines, 10 expected"
# the script's own #SBATCH lines ask for a real sweep's 2 CPUs and 16 GB: a task of the tiny sweep
# asks for one CPU and 1 GB on the command line, which overrides them
jid=$(cd "$T/slurm" && sbatch --parsable --array=1-"$N" --cpus-per-task=1 --mem=1G \
    --output="$T/slurm/results/slurm-%A_%a.out" experiments/slurm.sbatch "$T/tiny.cmds") || bad "sbatch failed"
wait_job "$jid" 300 || bad "job array $jid still queued or running after 300 s: $(squeue 2>&1 | tail -3)"
nres=$(ls "$T/slurm/results/tiny/runs/"*.tsv 2>/dev/null | grep -vc curve)
[ "$nres" = 10 ] || bad "the job array wrote $nres result rows, 10 expected: $(cat "$T"/slurm/results/slurm-*.out 2>/dev/null | tail -3)"
ls -d "$T"/slurm/results/tiny/runs/*.ckpt > /dev/null 2>&1 && bad "checkpoints left after finished runs"
(cd "$T/slurm" && ./run_all.sh --collect tiny --no-plots > "$T/collect.out" 2>&1) || bad "--collect: $(tail -2 "$T/collect.out")"
if [ "$(strip "$T/plain/results/tiny/summary.tsv")" = "$(strip "$T/slurm/results/tiny/summary.tsv")" ]; then
    say "tiny: $N array tasks; --collect's summary is the plain run's"
else
    bad "the Slurm summary differs from the plain run's: $(diff <(strip "$T/plain/results/tiny/summary.tsv") <(strip "$T/slurm/results/tiny/summary.tsv") | head -4)"
fi

# --- a requeued task continues from its checkpoint ---
cat > "$T/requeue.sweep" << 'SWEEP'
# requeue: runs of several seconds, a checkpoint after each of 6 epochs
dataset   rq = gen --profile tiny --rows 120000 --seed 4
ratios    4
seeds     1 2
train     --dim 8 --mlp 64,32 --batch 256 --epochs 6 --patience 6
strategy  hash --compress-min 50
SWEEP
for d in "$T/plain" "$T/slurm"; do cp "$T/requeue.sweep" "$d/experiments/"; done
(cd "$T/plain" && ./run_all.sh requeue --threads 1 --no-plots > "$T/plain2.out" 2>&1) || bad "plain requeue sweep: $(tail -2 "$T/plain2.out")"
(cd "$T/slurm" && ./run_all.sh --emit requeue --threads 1 > "$T/rq.cmds" 2> "$T/emit2.err") || bad "--emit requeue: $(tail -2 "$T/emit2.err")"
N=$(wc -l < "$T/rq.cmds")
jid=$(cd "$T/slurm" && sbatch --parsable --array=1-"$N" --cpus-per-task=1 --mem=1G --requeue --open-mode=append \
    --output="$T/slurm/results/slurm-%A_%a.out" experiments/slurm.sbatch "$T/rq.cmds") || bad "sbatch (requeue) failed"
run1=$(sed -n '1s/.* --resume [^ ]*runs\/\([^ /]*\)\.ckpt .*/\1/p' "$T/rq.cmds")
[ -n "$run1" ] || bad "no --resume checkpoint in the first emitted line: $(head -1 "$T/rq.cmds")"
ck=$T/slurm/results/requeue/runs/$run1.ckpt/last
for i in $(seq 600); do [ -f "$ck" ] && break; sleep 0.1; done
if [ -f "$ck" ]; then
    scontrol requeue "${jid}_1" || bad "scontrol requeue ${jid}_1 failed"
    say "requeue: task 1 (${jid}_1) requeued once its first checkpoint existed"
else
    bad "task 1 wrote no checkpoint in 60 s"
fi
wait_job "$jid" 600 || bad "job array $jid (requeue) still queued or running after 600 s"
grep -q -- "--resume: .*: [0-9]* epoch(s) done, continuing" "$T/slurm/results/requeue/runs/$run1.log" ||
    bad "the requeued task did not continue from its checkpoint: $(grep -- --resume "$T/slurm/results/requeue/runs/$run1.log" | tail -1)"
for r in "$T"/plain/results/requeue/runs/*.tsv; do
    case $r in *.curve.tsv) continue ;; esac
    # the run's name ends in a hash of its arguments, --data's path (the copy's) among them
    b=$(basename "$r" .tsv); s=$(ls "$T"/slurm/results/requeue/runs/"${b%_*}"_*.tsv 2>/dev/null | grep -v curve | head -1)
    [ -f "$s" ] || { bad "no Slurm row for ${b%_*}"; continue; }
    [ "$(rowstrip "$r")" = "$(rowstrip "$s")" ] || bad "${b%_*}: the requeued sweep's row differs from the plain run's: $(diff <(rowstrip "$r" | tr '\t' '\n') <(rowstrip "$s" | tr '\t' '\n') | head -4)"
done
(cd "$T/slurm" && ./run_all.sh --collect requeue --no-plots > /dev/null 2>&1) || bad "--collect requeue"
[ "$(strip "$T/plain/results/requeue/summary.tsv")" = "$(strip "$T/slurm/results/requeue/summary.tsv")" ] ||
    bad "the requeued sweep's summary differs from the plain run's"
[ $fail = 0 ] && say "requeue: the task resumed ($(grep -o -- '--resume: .*continuing' "$T/slurm/results/requeue/runs/$run1.log" | sed 's/.*: \([0-9]*\) epoch.*/\1/') epoch(s) kept) and the rows are the plain run's"

# --- nothing left running ---
stop_daemons
sleep 0.5
left=$(pgrep -a -f "slurmctld -f $T|slurmd -f $T|munged --key-file=$T" || true)
[ -z "$left" ] || bad "daemons left running: $left"
[ $fail = 0 ] && echo "test_slurm: all passed" || echo "test_slurm: FAILED"
exit $fail
