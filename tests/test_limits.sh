#!/usr/bin/env bash
# What a machine cannot give a run is refused up front, with its sizes, never a crash, a hang or a
# half-written output: a table of 2^31 rows or more (int32 row slots), a run larger than the memory
# available, more threads than `ulimit -v` holds (OpenBLAS 0.3.21 retries a failed buffer map
# forever), an --out that can only fail after training; and a --data path with a tab or newline
# still gives a one-line result row.
. "$(dirname "$0")/testing.sh"
# expect CODE PATTERN CMD...: exit status CODE and stderr matching PATTERN, within 60 s (a hang fails)
expect() {
    local code=$1 pat=$2
    shift 2
    timeout 60 "$@" > "$T/out" 2> "$T/err"
    local st=$?
    [ "$st" = 124 ] && { bad "hangs: $*"; return; }
    [ "$st" = "$code" ] || bad "exit $st (want $code): $*: $(head -c 300 "$T/err")"
    [ -z "$pat" ] || grep -q -- "$pat" "$T/err" || bad "message /$pat/ missing: $*: $(head -c 300 "$T/err")"
}
"$H" gen --profile tiny --rows 20000 --seed 3 --out "$T/d" 2>/dev/null || { bad "gen"; exit 1; }
small="--epochs 1 --dim 4 --mlp 8 --batch 512 --quiet"

# --- defect 4: a table of 2^31 rows or more: plan and train refuse, naming field and rows ---
expect 2 "field 1 (N=2147483648): 2147483648 rows.*at most 2^31-1" "$H" plan --cards 10,2147483648 --emb full
expect 2 "field 0 (N=4294967295): 4294967295 rows" "$H" plan --cards 4294967295 --emb hash --ratio 1
"$H" plan --cards 10,4294967295 --emb hash --ratio 1000 > /dev/null 2>&1 || bad "a compressed 2^32-id field is fine"
cp -r "$T/d" "$T/big"
sed -i 's/^cardinalities=[0-9]*,/cardinalities=3000000000,/' "$T/big/dataset.meta"
expect 2 "field 0 (N=3000000000): 3000000000 rows" "$H" train --data "$T/big" $small --out "$T/big.tsv"
[ -e "$T/big.tsv" ] && bad "a refused run wrote a result"

# --- defect 10: runs larger than the memory available: refused before anything is allocated ---
sed -i 's/^cardinalities=[0-9]*,/cardinalities=2000000000,/' "$T/big/dataset.meta"
# plan shows the layout whatever this machine is (a sweep plans on a login node for a cluster) and
# says beside it that train would refuse it here; --tsv stays the layout alone
"$H" plan --cards 10,2000000000 --emb full > "$T/out" 2> "$T/err" || bad "plan of a layout too big for this machine: exit $?"
[ -s "$T/err" ] && bad "plan wrote to stderr (a sweep marks such a point invalid): $(cat "$T/err")"
grep -q "on this machine: this plan (its embedding tables with Adam's state) needs about .*GiB, more than the .* available.*the largest field, 1, has 2000000000 rows and 34000000000 parameters.*train would refuse it here" "$T/out" ||
    bad "plan's note on this machine's memory: $(tail -2 "$T/out")"
"$H" plan --cards 10,2000000000 --emb full --tsv 2> "$T/err" | grep -q "on this machine" && bad "--tsv carries the note"
expect 1 "this run needs about .*GiB, more than the .* available.*the largest field t1 with 2000000000 rows" \
    "$H" train --data "$T/big" --epochs 1 --quiet --out "$T/big.tsv"
expect 1 "this run needs about .*dense model .*GiB" "$H" train --data "$T/d" --mlp 65536,65536 --quiet --out "$T/m.tsv"
expect 1 "this run needs about .*batch buffers .*GiB" "$H" train --data "$T/d" --dim 4096 --batch 1048576 --quiet --out "$T/m.tsv"
ls "$T"/*.tsv > /dev/null 2>&1 && bad "a refused run left a result or curve: $(ls "$T"/*.tsv)"

# --- defect 5: under ulimit -v, more threads than fit are refused or lowered, never a hang ---
# (not under AddressSanitizer, whose shadow memory alone is terabytes of address space)
if ldd "$H" 2>/dev/null | grep -q libasan; then
    echo "  skip: the ulimit -v checks under AddressSanitizer" >&2
else
expect 1 "ulimit -v (RLIMIT_AS) is too low for OpenBLAS to start" bash -c "ulimit -v 250000; exec \"\$0\" train --data \"\$1\" $small" "$H" "$T/d"
expect 1 "threads 16: each thread needs .* address space.*use --threads" bash -c "ulimit -v 2000000; exec \"\$0\" train --data \"\$1\" --threads 16 $small" "$H" "$T/d"
expect 0 "" bash -c "ulimit -v 2000000; exec \"\$0\" train --data \"\$1\" --threads 2 $small" "$H" "$T/d"
expect 0 "leaves room for 1 thread" bash -c "ulimit -v 700000; exec \"\$0\" train --data \"\$1\" $small" "$H" "$T/d"
expect 1 "threads 2: each thread needs" bash -c "ulimit -v 700000; exec \"\$0\" train --data \"\$1\" --threads 2 $small" "$H" "$T/d"
expect 0 "" bash -c "ulimit -v 2000000; exec \"\$0\" bench sgemm --reps 1 --threads 2" "$H"
fi

# --- the memory limit of a cgroup, set on a parent of the process's own (a systemd slice, say), is
# what a run may have (only where this test may make memory cgroups: as root, cgroup v1 or v2) ---
CG=""
for root in /sys/fs/cgroup/memory /sys/fs/cgroup; do
    [ -w "$root" ] && { [ -e "$root/memory.limit_in_bytes" ] || grep -qw memory "$root/cgroup.subtree_control" 2>/dev/null; } || continue
    d="$root/hashemb_test.$$"
    mkdir "$d" 2>/dev/null || continue
    if echo 3000000000 > "$d/memory.limit_in_bytes" 2>/dev/null || echo 3000000000 > "$d/memory.max" 2>/dev/null; then
        [ "$root" = /sys/fs/cgroup ] && echo +memory > "$d/cgroup.subtree_control" 2>/dev/null
        mkdir "$d/child" 2>/dev/null && CG=$d && break
    fi
    rmdir "$d" 2>/dev/null
done
if [ -n "$CG" ]; then
    bash -c 'echo $$ > "$1/child/cgroup.procs" && exec "$2" plan --cards 10,200000000 --emb full' _ "$CG" "$H" > "$T/out" 2>&1
    grep -q "more than the 2\.[0-9] GiB available (the cgroup's memory limit)" "$T/out" ||
        bad "a parent cgroup's 3 GB limit is not what plan measures against: $(tail -1 "$T/out")"
    rmdir "$CG/child" "$CG" 2>/dev/null
else
    echo "  skip: cannot make a memory cgroup here (not root, or no writable memory controller)" >&2
fi

# --- defect 11: an --out that can only fail at the end fails first, and leaves nothing ---
mkdir "$T/outdir"
expect 2 "is a directory" "$H" train --data "$T/d" $small --out "$T/outdir"
expect 2 "not a file name" "$H" train --data "$T/d" $small --out ""
expect 2 "not a file name" "$H" train --data "$T/d" $small --out "$T/outdir/"
mkdir "$T/r.curve.tsv"
expect 2 "curve file .* is a directory" "$H" train --data "$T/d" $small --out "$T/r.tsv"
expect 2 "cannot write into directory" "$H" train --data "$T/d" $small --out "$T/nodir/r.tsv"
[ -e "$T/outdir.curve.tsv" ] || [ -e "$T/.curve.tsv" ] && bad "an orphan curve was left"
[ "$(ls "$T/outdir")" = "" ] || bad "files in the --out directory: $(ls "$T/outdir")"

# --- defect 8: a tab or newline in --data: the row stays one line of 30 columns, escaped ---
for name in "a	b" "a
b" 'a\b'; do
    rm -rf "$T/odd"; mkdir -p "$T/odd"; cp -r "$T/d" "$T/odd/$name"
    "$H" train --data "$T/odd/$name" $small --out "$T/odd.tsv" 2> "$T/err" || { bad "train on an odd path: $(cat "$T/err")"; continue; }
    [ "$(wc -l < "$T/odd.tsv")" = 2 ] || bad "odd path '$name': $(wc -l < "$T/odd.tsv") lines"
    [ "$(awk -F'\t' 'NR == 2 { print NF }' "$T/odd.tsv")" = 30 ] || bad "odd path '$name': not 30 columns"
    want=$(printf '%s' "$name" | sed 's/\\/\\\\/g; s/\t/\\t/g' | awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }')
    [ "$(awk -F'\t' 'NR == 2 { print $2 }' "$T/odd.tsv")" = "$want" ] || bad "odd path '$name': dataset column $(awk -F'\t' 'NR == 2 { print $2 }' "$T/odd.tsv"), want $want"
done

[ $fail -eq 0 ] && echo "  limits: every refusal named its sizes; no hang" >&2
exit $fail
