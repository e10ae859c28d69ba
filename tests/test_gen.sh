#!/usr/bin/env bash
# gen and info from the command line: same bytes on 1 and 2 threads, the criteo calibration, the
# Criteo text (and prep reading it, where the binary has prep), bad flags, and the loader's checks
# on a damaged dataset. Needs $HASHEMB (run_tests.sh sets it). Takes a few seconds.
. "$(dirname "$0")/testing.sh"
fails=0
fail() { echo "  FAIL test_gen.sh: $*" >&2; fails=$((fails + 1)); }
meta() { sed -n "s/^$2=//p" "$1/dataset.meta"; }
digest() { (cd "$1" && sha256sum dataset.meta train.bin valid.bin test.bin); }

# --- determinism: the same bytes whatever --threads ---
for args in "--profile tiny --rows 3000" "--profile criteo --rows 20000 --vocab-scale 0.01" \
    "--profile criteo --rows 5000 --vocab-scale 0.001 --id-order hash --zipf 0.8 --seed 7" \
    "--profile avazu --rows 4000 --vocab-scale 0.01"; do
    $H gen $args --threads 1 --out "$T/a" 2>/dev/null || fail "gen $args --threads 1 failed"
    $H gen $args --threads 2 --out "$T/b" 2>/dev/null || fail "gen $args --threads 2 failed"
    [ "$(digest "$T/a")" = "$(digest "$T/b")" ] || fail "gen $args: 1 and 2 threads give different bytes"
done
[ "$(meta "$T/b" format)" = "gen:avazu" ] || fail "format key: $(meta "$T/b" format)"
[ "$(meta "$T/b" fields)" = 24 ] || fail "avazu fields: $(meta "$T/b" fields)"
grep -q 'threads\|time' "$T/b/dataset.meta" && fail "dataset.meta mentions threads or time"
keys=$(cut -d= -f1 "$T/b/dataset.meta" | tr '\n' ' ')
want="version format source fields field_names cardinalities support rows_train rows_valid rows_test pos_rate_train pos_rate_valid pos_rate_test min_count id_order seed oracle_auc_train oracle_auc_valid oracle_auc_test oracle_logloss_train oracle_logloss_valid oracle_logloss_test profile vocab_scale zipf exponent rarity redundancy clusters cluster_share share_power gen_version "
[ "$keys" = "$want" ] || fail "dataset.meta keys: $keys"
ls "$T" | grep -q tmp && fail "a temporary directory was left behind"
v=$($H gen --version) || fail "gen --version exits non-zero"
[[ $v =~ ^gen_version\ [0-9]+$ ]] || fail "gen --version: '$v'"
[ "$(meta "$T/b" gen_version)" = "${v#gen_version }" ] || fail "dataset.meta gen_version $(meta "$T/b" gen_version), gen --version '$v'"

# --- calibration on the criteo profile ---
$H gen --profile criteo --rows 200000 --vocab-scale 0.01 --out "$T/c" 2>"$T/c.err" || fail "gen criteo 200000"
grep -q 'oracle AUC' "$T/c.err" || fail "no summary line on stderr: $(cat "$T/c.err")"
[ "$(meta "$T/c" rows_train)/$(meta "$T/c" rows_valid)/$(meta "$T/c" rows_test)" = 160000/20000/20000 ] ||
    fail "80/10/10 split: $(meta "$T/c" rows_train)/$(meta "$T/c" rows_valid)/$(meta "$T/c" rows_test)"
awk -v p="$(meta "$T/c" pos_rate_train)" 'BEGIN { exit !(p >= 0.20 && p <= 0.30) }' ||
    fail "pos_rate_train $(meta "$T/c" pos_rate_train) outside 0.20..0.30"
for s in train valid test; do
    awk -v a="$(meta "$T/c" oracle_auc_$s)" 'BEGIN { exit !(a >= 0.77 && a <= 0.83) }' ||
        fail "oracle_auc_$s $(meta "$T/c" oracle_auc_$s) outside 0.77..0.83"
done
[ "$(meta "$T/c" support | cut -d, -f16)" = 42949673 ] || fail "C3's support at scale 0.01 is not 42949673"
[ "$(meta "$T/c" zipf)" = fitted ] || fail "zipf key: $(meta "$T/c" zipf)"
[ "$(meta "$T/c" exponent | cut -d, -f1,16,22)" = 2.97206,1.06245,1.1 ] ||
    fail "the fitted exponents of I1, C3, C9: $(meta "$T/c" exponent | cut -d, -f1,16,22)"
[ "$(meta "$T/b" exponent | cut -d, -f12,13)" = 0.627581,0.211773 ] || fail "avazu's exponents: $(meta "$T/b" exponent)"
[ "$(meta "$T/a" zipf)" = fitted ] || fail "the last determinism run's zipf key: $(meta "$T/a" zipf)"
# prep's rule: N_f is the distinct values train shows, plus the OOV id; train has no OOV id
n_c3=$(meta "$T/c" cardinalities | cut -d, -f16)
[ "$n_c3" -gt 1 ] && [ "$n_c3" -lt 42949673 ] || fail "C3's N_f $n_c3 is not below its support"

# --- the planted model's knobs: presets, recorded, shown, and only the labels move ---
G="$H gen --profile criteo --rows 20000 --vocab-scale 0.01"
$G --out "$T/kdef" 2>/dev/null || fail "gen (default knobs)"
$G --rarity 1 --redundancy 0.9 --share-power -2 --out "$T/kcal" 2>/dev/null || fail "gen with the calibrated knobs"
[ "$(digest "$T/kcal")" = "$(digest "$T/kdef")" ] || fail "--planted calibrated's knobs are not the default, byte for byte"
[ "$(meta "$T/kdef" rarity),$(meta "$T/kdef" redundancy),$(meta "$T/kdef" share_power)" = 1,0.9,-2 ] ||
    fail "the default's knob keys: $(meta "$T/kdef" rarity),$(meta "$T/kdef" redundancy),$(meta "$T/kdef" share_power)"
meta "$T/kdef" source | grep -q -- '--planted\|--rarity\|--redundancy\|--share-power' && fail "the default's source line names knobs"
$H info "$T/kdef" | grep -q '^planted   rarity 1    redundancy 0.9    clusters 0 (share 0)    share_power -2    = --planted calibrated$' ||
    fail "info does not show the default knobs: $($H info "$T/kdef" | grep planted)"
# --planted independent is gen_version 3's model: its split files, byte for byte (digests made by
# gen_version 3, commit 79d63e9), whatever the order of the flags that adjust it
$G --planted independent --threads 1 --out "$T/kind" 2>/dev/null || fail "gen --planted independent"
[ "$(cd "$T/kind" && sha256sum train.bin valid.bin test.bin | cut -c1-64 | tr '\n' ' ')" = "1632fd8464d86106c7099069b67e3c0adf7662b28d30869ba9f5194e5ff08075 8a5a367ae05ccdc3e45bb2d1f4bea03a8130bb64163556ec9c01cfb922acc01b 7bbe1fd987d0c4f126636897f76e5ded03b20a05c9863f30e6e9410b536f3d55 " ] ||
    fail "--planted independent does not reproduce gen_version 3's criteo split files"
$H gen --profile tiny --rows 3000 --planted independent --out "$T/kt" 2>/dev/null || fail "gen tiny --planted independent"
[ "$(cd "$T/kt" && sha256sum train.bin valid.bin test.bin | cut -c1-64 | tr '\n' ' ')" = "88e8bd73d5899555e4edb3e35a99ef39ee2b91b4ee3e9f90677ee12b6fce0b2b 0065ae16b4e11001869026d5a61ad74295e81efad249b602847bfde202734d78 75f38237c43d8c20df67deb13bffd3d5dc2b46b2c9ff7272c6e189af08f9aaec " ] ||
    fail "--planted independent does not reproduce gen_version 3's tiny split files"
meta "$T/kind" source | grep -q -- ' --planted independent --id-order' || fail "--planted not in the source line: $(meta "$T/kind" source)"
# row_terms's redundancy path (mixing in the coarse field's parts computed in the vectorized loop, a
# table of gen_parent for the head ranks) against planted_parts, the path --clusters takes: one cluster
# with share 0 changes no value, so the probabilities and labels must be the same bytes (criteo at
# scale 1 draws ranks past the table's 16,384)
for args in "--profile criteo --rows 20000 --vocab-scale 0.01" "--profile criteo --rows 20000" "--profile avazu --rows 5000 --vocab-scale 0.1" "--profile tiny --rows 3000"; do
    $H gen $args --out "$T/fast" 2>/dev/null && $H gen $args --clusters 1 --cluster-share 0 --out "$T/slow" 2>/dev/null ||
        fail "gen $args (--clusters 1 --cluster-share 0)"
    for f in train.bin valid.bin test.bin; do
        cmp -s "$T/fast/$f" "$T/slow/$f" || fail "gen $args: the redundancy path's $f differs from planted_parts'"
    done
done
$G --rarity 30 --redundancy 0 --share-power 1 --out "$T/k30" 2>/dev/null || fail "gen with the independent knobs"
[ "$(digest "$T/k30")" = "$(digest "$T/kind")" ] || fail "the independent knobs are not --planted independent, byte for byte"
$G --rarity 2 --planted independent --out "$T/k2" 2>/dev/null || fail "gen --rarity 2 --planted independent"
$G --planted independent --rarity 2 --out "$T/k2b" 2>/dev/null || fail "gen --planted independent --rarity 2"
[ "$(digest "$T/k2")" = "$(digest "$T/k2b")" ] || fail "a knob flag before --planted is lost"
[ "$(meta "$T/k2" rarity)" = 2 ] && meta "$T/k2" source | grep -q -- '--planted independent --rarity 2 ' ||
    fail "--rarity 2 not recorded: $(meta "$T/k2" source)"
cmp -s "$T/k2/train.bin" "$T/kind/train.bin" && fail "--rarity 2 left the labels and probabilities as they were"
$H info "$T/k2" | grep -q '^planted   rarity 2    redundancy 0    clusters 0 (share 0)    share_power 1$' || fail "info does not show the knobs"
# the ids do not depend on the planted model but through --redundancy (a coarse field shows its fine
# field's entity): the same N_f
[ "$(meta "$T/k2" cardinalities)" = "$(meta "$T/kind" cardinalities)" ] || fail "--rarity changed the vocabulary"
$H gen --profile criteo --rows 20000 --vocab-scale 0.01 --share-power 0 --out "$T/ks" 2>/dev/null || fail "gen --share-power 0"
[ "$(meta "$T/ks" share_power)" = 0 ] && meta "$T/ks" source | grep -q -- '--share-power 0 ' ||
    fail "--share-power not recorded: $(meta "$T/ks" source)"
cmp -s "$T/ks/train.bin" "$T/kdef/train.bin" && fail "--share-power 0 left the labels as they were"
$H gen --profile criteo --rows 20000 --vocab-scale 0.01 --clusters 50 --out "$T/kc" 2>/dev/null || fail "gen --clusters 50"
[ "$(meta "$T/kc" clusters),$(meta "$T/kc" cluster_share)" = 50,0.8 ] && meta "$T/kc" source | grep -q -- '--clusters 50 --cluster-share 0.8 ' ||
    fail "--clusters not recorded: $(meta "$T/kc" source)"
[ "$(meta "$T/kc" cardinalities)" = "$(meta "$T/kdef" cardinalities)" ] || fail "--clusters changed the vocabulary"
cmp -s "$T/kc/train.bin" "$T/kdef/train.bin" && fail "--clusters left the labels as they were"
$H gen --profile criteo --rows 20000 --vocab-scale 0.01 --redundancy 0.5 --out "$T/kr" 2>/dev/null || fail "gen --redundancy 0.5"
[ "$(meta "$T/kr" redundancy)" = 0.5 ] && meta "$T/kr" source | grep -q -- '--redundancy 0.5 ' ||
    fail "--redundancy not recorded: $(meta "$T/kr" source)"

# --- the laws: gen --law computes the growth exactly, and a generated set shows it ---
$H gen --profile criteo --law >"$T/law.out" 2>"$T/e" || fail "gen --law: $(cat "$T/e")"
[ "$(grep -c '^| [IC][0-9]* |' "$T/law.out")" = 39 ] || fail "gen --law: not 39 field rows"
grep -q '^| C3 | 4294967295 | 1.0624 |' "$T/law.out" || fail "gen --law: C3's row: $(grep '^| C3 ' "$T/law.out")"
$H gen --profile criteo --law --rows 200000 --vocab-scale 0.01 >"$T/law2.out" || fail "gen --law --rows"
want_nf=$(awk -F'|' '$2 ~ /total/ { gsub(/ /, "", $(NF-1)); print $(NF-1) }' "$T/law2.out")
got_nf=$(meta "$T/c" cardinalities | tr ',' '\n' | awk '{ s += $1 - 1 } END { print s }')
awk -v a="$got_nf" -v b="$want_nf" 'BEGIN { exit !(b > 0 && a / b > 0.98 && a / b < 1.02) }' ||
    fail "distinct train values $got_nf, the law's expectation $want_nf"
$H gen --profile avazu --law | grep -q '^| device_ip | 6729487 | 0.2118 |' || fail "gen --profile avazu --law"
$H gen --profile criteo --law --zipf 0.5 --vocab-scale 0.5 | grep -q '^| C3 | 2147483648 | 0.5000 |' ||
    fail "gen --law with --zipf and --vocab-scale: $($H gen --profile criteo --law --zipf 0.5 --vocab-scale 0.5 | grep '^| C3 ')"
# --- info ---
$H info "$T/c" >"$T/info.out" 2>"$T/info.err" || fail "info failed: $(cat "$T/info.err")"
grep -q 'oracle_auc' "$T/info.out" || fail "info shows no oracle AUC"
grep -q "^train .*$(meta "$T/c" oracle_auc_train | cut -c1-5)" "$T/info.out" || fail "info's train oracle AUC"
grep -q '^C3 .*42949673' "$T/info.out" || fail "info's field table lacks C3"
awk '$1 ~ /^[IC][0-9]+$/ { n++; if ($2 != $3 + 1 || $5 != "0.0000") { bad++; print "    " $0 } } END { exit !(n == 39 && bad == 0) }' \
    "$T/info.out" >&2 || fail "N_f is not the distinct train values + 1 (with no OOV in train) for every field"
awk '$1 == "total" { exit !($2 < $NF) }' "$T/info.out" || fail "info's totals: N_f not below the support"
$H info --help | grep -q 'usage: hashemb info' || fail "info --help"
$H info "$T/nope" >/dev/null 2>"$T/e"
[ $? -eq 1 ] && grep -q "nope" "$T/e" || fail "info on a missing directory: $(cat "$T/e")"
$H info 2>/dev/null
[ $? -eq 2 ] || fail "info without DIR does not exit 2"

# --- the loader's checks, through info ---
cp -r "$T/c" "$T/trunc"
truncate -s -1 "$T/trunc/train.bin"
$H info "$T/trunc" >/dev/null 2>"$T/e"
[ $? -eq 1 ] && grep -q 'train.bin' "$T/e" && grep -q 'size mismatch' "$T/e" ||
    fail "truncated train.bin: $(cat "$T/e")"
cp -r "$T/c" "$T/flip"
printf '\x07' | dd of="$T/flip/valid.bin" bs=1 seek=100000 conv=notrunc status=none
$H info "$T/flip" >/dev/null 2>"$T/e"
[ $? -eq 1 ] && grep -q 'valid.bin' "$T/e" && grep -q 'checksum' "$T/e" ||
    fail "flipped byte in valid.bin: $(cat "$T/e")"

# --- bad command lines: exit 2, the flag named, no output directory ---
bad() { # expected-word args...
    local word=$1
    shift
    $H gen "$@" >/dev/null 2>"$T/e"
    local rc=$?
    [ $rc -eq 2 ] || fail "gen $*: exit $rc, not 2"
    grep -q -- "$word" "$T/e" || fail "gen $*: message does not name $word: $(head -1 "$T/e")"
    grep -q 'usage: hashemb gen' "$T/e" || fail "gen $*: no usage"
}
bad --rows --profile tiny --rows 12x --out "$T/bad"
bad --rows --profile tiny --rows 5 --out "$T/bad"
bad --rows --profile tiny --out "$T/bad"
bad --profile --profile huge --rows 100 --out "$T/bad"
bad --zipf --profile tiny --rows 100 --zipf 0 --out "$T/bad"
bad --rarity --profile tiny --rows 100 --rarity 0 --out "$T/bad"
bad --redundancy --profile tiny --rows 100 --redundancy 1 --out "$T/bad"
bad --cluster-share --profile tiny --rows 100 --clusters 5 --cluster-share 1.5 --out "$T/bad"
bad --share-power --profile tiny --rows 100 --share-power 9 --out "$T/bad"
bad --rarity --profile tiny --rows 100 --rarity x --out "$T/bad"
bad --planted --profile tiny --rows 100 --planted legacy --out "$T/bad"
bad 'significant digits' --profile tiny --rows 100 --rarity 1.0000001 --out "$T/bad"
bad 'significant digits' --profile tiny --rows 100 --vocab-scale 0.12345678 --out "$T/bad"
bad 'needs --clusters' --profile tiny --rows 100 --cluster-share 0.5 --out "$T/bad"
bad --law --profile criteo --refit
bad --min-count --profile criteo --law --min-count 2
bad --refit --profile criteo --law --refit --zipf 1.1
bad --vocab-scale --profile criteo --law --vocab-scale 2
bad --law --profile criteo --law --out "$T/bad"
bad --profile --profile nope --law
bad --vocab-scale --profile tiny --rows 100 --vocab-scale abc --out "$T/bad"
bad --vocab-scale --profile criteo --rows 100 --vocab-scale 1000 --out "$T/bad"
bad --id-order --profile tiny --rows 100 --id-order first --out "$T/bad"
bad --threads --profile tiny --rows 100 --threads 0 --out "$T/bad"
bad --seed --profile tiny --rows 100 --seed -1 --out "$T/bad"
bad --text --profile tiny --rows 100 --text "$T/t.txt" --out "$T/bad"
bad --out --profile tiny --rows 100
bad bogus --profile tiny --rows 100 --bogus --out "$T/bad"
# numbers are plain decimals: no padding, no hex
bad --rows --profile tiny --rows ' 3000' --out "$T/bad"
bad --rows --profile tiny --rows 0x1000 --out "$T/bad"
bad --zipf --profile tiny --rows 100 --zipf 0x1p0 --out "$T/bad"
bad --vocab-scale --profile tiny --rows 100 --vocab-scale ' 1' --out "$T/bad"
bad --vocab-scale --profile tiny --rows 100 --vocab-scale inf --out "$T/bad"
bad --seed --profile tiny --rows 100 --seed '3 ' --out "$T/bad"
# --out and --text are checked before any work
bad --out --profile tiny --rows 100 --out ''
bad "--out: .*/nodir/x: its parent directory .*/nodir does not exist" --profile tiny --rows 100 --out "$T/nodir/x"
bad "--out: .* names no directory" --profile tiny --rows 100 --out "$T/."
bad "--text: .*/nodir/t.txt: its directory .*/nodir does not exist" --profile criteo --rows 100 --text "$T/nodir/t.txt" --out "$T/bad"
mkdir -p "$T/userdir" && echo keep > "$T/userdir/notes.txt"
bad "--out: .*userdir: exists and is not a hashemb dataset" --profile tiny --rows 100 --out "$T/userdir/"
[ "$(ls -A "$T/userdir")" = notes.txt ] || fail "a refused --out directory was touched: $(ls -A "$T/userdir")"
rm -rf "$T/userdir"
[ -e "$T/bad" ] && fail "a bad command line left $T/bad"
ls "$T" | grep -q 'bad' && fail "a bad command line left a temporary directory"
[ -e "$T/t.txt" ] && fail "a bad command line left the text file"
$H gen --help | grep -q 'usage: hashemb gen' || fail "gen --help"

# --- Criteo text ---
$H gen --profile criteo --rows 3000 --vocab-scale 0.05 --text "$T/c.txt" --out "$T/ct" 2>/dev/null ||
    fail "gen --text"
[ "$(wc -l <"$T/c.txt")" = 3000 ] || fail "text: $(wc -l <"$T/c.txt") lines, not 3000"
[ "$(awk -F'\t' 'NF != 40' "$T/c.txt" | wc -l)" = 0 ] || fail "text: a line without 40 columns"
[ "$(cut -f1 "$T/c.txt" | sort -u | tr '\n' ' ')" = "0 1 " ] || fail "text: labels are not 0/1"
cut -f15- "$T/c.txt" | tr '\t' '\n' | grep -qv '^[0-9a-f]\{8\}$' && fail "text: a categorical token is not 8 hex"
# labels in text order are the splits' labels in order
[ "$(cut -f1 "$T/c.txt" | awk '{ s += $1 } END { print s }')" = \
    "$(awk -v a="$(meta "$T/ct" pos_rate_train)" -v b="$(meta "$T/ct" pos_rate_valid)" \
        -v c="$(meta "$T/ct" pos_rate_test)" 'BEGIN { printf "%.0f", a * 2400 + b * 300 + c * 300 }')" ] ||
    fail "text labels do not add up to the splits' positives"
# integer columns: distinct raw values stay distinct under prep's floor(ln(x)^2) transform
# (--zipf 0.5: a flat law, so that nearly every integer value shows; the fitted ones are steep there)
$H gen --profile criteo --rows 20000 --zipf 0.5 --text "$T/c1.txt.gz" --out "$T/c1" 2>/dev/null || fail "gen --text .gz"
gzip -t "$T/c1.txt.gz" || fail "text .gz does not decompress"
[ "$(gzip -dc "$T/c1.txt.gz" | wc -l)" = 20000 ] || fail "text .gz: wrong line count"
gzip -dc "$T/c1.txt.gz" | awk -F'\t' '{
    for (i = 2; i <= 14; i++) {
        x = $i; k = i SUBSEP x
        if (!(k in raw)) { raw[k] = 1; nraw[i]++
            t = x == "" ? "empty" : (x + 0 > 2 ? int(log(x) * log(x)) : x + 0)
            if (!((i SUBSEP t) in tr)) { tr[i SUBSEP t] = 1; ntr[i]++ } } } }
    END { for (i = 2; i <= 14; i++) if (nraw[i] != ntr[i] || nraw[i] < 40) { print i, nraw[i], ntr[i]; bad = 1 }
          exit bad }' >"$T/e" || fail "integer columns collide under the transform: $(cat "$T/e")"
if $H prep --help >/dev/null 2>&1; then
    $H prep --format criteo --train "$T/c.txt" --out "$T/p" 2>"$T/e" || fail "prep cannot read gen's text: $(cat "$T/e")"
    rows=$(($(meta "$T/p" rows_train) + $(meta "$T/p" rows_valid) + $(meta "$T/p" rows_test)))
    [ "$rows" = 3000 ] || fail "prep read $rows rows of 3000"
    $H prep --format criteo --train "$T/c1.txt.gz" --out "$T/p1" 2>"$T/e" || fail "prep cannot read gen's .gz: $(cat "$T/e")"
    $H info "$T/p1" >/dev/null || fail "info on prep's dataset"
else
    echo "  skip: this binary has no prep; gen's text checked by itself" >&2
fi

# --- --out with a trailing slash replaces the dataset it names ---
$H gen --profile tiny --rows 1000 --out "$T/ts" 2>/dev/null || fail "gen --out ts"
$H gen --profile tiny --rows 2000 --out "$T/ts/" 2>"$T/e" || fail "gen --out ts/ over a dataset: $(cat "$T/e")"
[ "$(meta "$T/ts" rows_train)" = 1600 ] || fail "gen --out ts/ did not replace ts"
[ "$(ls -A "$T/ts" | sort | tr '\n' ' ')" = "dataset.meta test.bin train.bin valid.bin " ] || fail "--out ts/: ts holds $(ls -A "$T/ts")"
ls -d "$T"/ts?* >/dev/null 2>&1 && fail "--out ts/ left $(ls -d "$T"/ts?*)"
rm -rf "$T/ts"

# --- not enough space: refused before anything is reserved, naming what is needed and available ---
# (2^40 rows of tiny need 41 TB; without the check posix_fallocate would try to reserve them)
timeout 60 $H gen --profile tiny --rows 1099511627776 --out "$T/huge" >/dev/null 2>"$T/e"
rc=$?
[ $rc -eq 1 ] || fail "gen of 41 TB: exit $rc, want 1: $(head -2 "$T/e")"
grep -q "huge: the dataset needs [0-9]* bytes (.* GB), but the filesystem of .* has [0-9]* bytes (.* GB) available" "$T/e" ||
    fail "gen of 41 TB: the message does not name the bytes needed and available: $(head -2 "$T/e")"
ls -d "$T"/huge* >/dev/null 2>&1 && fail "gen of 41 TB left $(ls -d "$T"/huge*)"

# --- temporaries: a dead process's leftovers on this host are removed, others kept ---
host=$(uname -n)
mkdir -p "$T/st.tmp.$host.99999999" "$T/st.tmp.not-$host.99999999" "$T/st.tmp.$host.$$"
: >"$T/st.tmp.$host.99999999/train.bin"
: >"$T/st.txt.tmp.$host.99999999"
: >"$T/st.txt.tmp.not-$host.99999999"
$H gen --profile criteo --rows 100 --vocab-scale 0.001 --text "$T/st.txt" --out "$T/st" 2>"$T/e" || fail "gen beside leftovers: $(cat "$T/e")"
[ -e "$T/st.tmp.$host.99999999" ] && fail "a dead process's temporary directory is left"
[ -e "$T/st.txt.tmp.$host.99999999" ] && fail "a dead process's temporary text file is left"
[ -d "$T/st.tmp.not-$host.99999999" ] && [ -e "$T/st.txt.tmp.not-$host.99999999" ] || fail "another host's temporaries were removed"
[ -d "$T/st.tmp.$host.$$" ] || fail "a live process's temporary directory was removed"
rm -rf "$T"/st*

# --- SIGINT while the rows are made, SIGTERM while the text is written: no temporary left ---
for case in "INT 130 sig.tmp.*/test.bin" "TERM 143 sig.txt.tmp.*" "HUP 129 sig.tmp.*/valid.bin"; do
    set -- $case
    msg=$(signal_check "$1" "$2" "$3" "$H" gen --profile criteo --rows 1000000 --vocab-scale 0.001 --threads 1 \
        --text "$T/sig.txt" --out "$T/sig" 2> "$T/e")
    [ -z "$msg" ] || fail "gen: $msg: $(tail -1 "$T/e")"
done

[ $fails -eq 0 ] || { echo "test_gen.sh: $fails failures" >&2; exit 1; }
echo "test_gen.sh: all passed" >&2
