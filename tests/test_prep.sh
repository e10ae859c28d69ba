#!/usr/bin/env bash
# hashemb prep end to end: the real Criteo and Frappe samples against independent awk counts, a
# hand-written Avazu file, csv with a schema, determinism and id orders, and every kind of bad input
# (message, exit status, no output directory left behind).
. "$(dirname "$0")/testing.sh"
SHARED=${SHARED:-../shared}
meta() { sed -n "s/^$2=//p" "$1/dataset.meta"; }
# expect_fail STATUS PATTERN ARGS...: prep must exit STATUS, say PATTERN on stderr, leave no $T/out*
expect_fail() {
    local want=$1 pat=$2
    shift 2
    timeout 60 "$H" prep "$@" > "$T/stdout" 2> "$T/stderr"
    local rc=$?
    [ "$rc" = "$want" ] || bad "prep $*: exit $rc, want $want ($(head -1 "$T/stderr"))"
    grep -q -- "$pat" "$T/stderr" || bad "prep $*: stderr lacks '$pat': $(head -1 "$T/stderr")"
    grep -q 'runtime error\|Sanitizer' "$T/stderr" && bad "prep $*: sanitizer report: $(grep -m1 'runtime error\|Sanitizer' "$T/stderr")"
    ls -d "$T"/out* > /dev/null 2>&1 && bad "prep $*: left $(ls -d "$T"/out*)"
    rm -rf "$T"/out*
}

# --- the command line ---
"$H" prep --help > "$T/help" || bad "--help exit status"
grep -q "usage: hashemb prep" "$T/help" || bad "--help prints the usage on stdout"
expect_fail 2 "unrecognized option" --format criteo --train x --out "$T/out" --bogus
expect_fail 2 "requires an argument" --format criteo --train x --out
expect_fail 2 "^hashemb prep: --min-count: '1x' is not a whole number" --format criteo --train x --min-count 1x --out "$T/out"
expect_fail 2 "^hashemb prep: --min-count: 0 is out of range" --format criteo --train x --min-count 0 --out "$T/out"
expect_fail 2 "^hashemb prep: --split" --format criteo --train x --split 0.8,0.2 --out "$T/out"
expect_fail 2 "^hashemb prep: --split" --format criteo --train x --split 0.8,x,0.1 --out "$T/out"
expect_fail 2 "^hashemb prep: --id-order" --format criteo --train x --id-order random --out "$T/out"
expect_fail 2 "^hashemb prep: --format" --format parquet --train x --out "$T/out"
expect_fail 2 "^hashemb prep: --threads" --format criteo --train x --threads 0 --out "$T/out"
expect_fail 2 "^hashemb prep: --train is required" --format criteo --out "$T/out"
expect_fail 2 "^hashemb prep: --out is required" --format criteo --train x
expect_fail 2 "^hashemb prep: --format csv needs --schema" --format csv --train x --out "$T/out"
expect_fail 2 "^hashemb prep: --schema is only for" --format criteo --schema s --train x --out "$T/out"
# numbers are plain decimals: no padding, no hex
expect_fail 2 "^hashemb prep: --seed: ' 3' is not a whole number" --format criteo --train x --seed ' 3' --out "$T/out"
expect_fail 2 "^hashemb prep: --min-count: '0x10' is not a whole number" --format criteo --train x --min-count 0x10 --out "$T/out"
expect_fail 2 "^hashemb prep: --split: '0x1p-1' is not a number" --format criteo --train x --split 0x1p-1,0.1,0.1 --out "$T/out"
expect_fail 2 "^hashemb prep: --split: ' 0.8' is not a number" --format criteo --train x --split ' 0.8,0.1,0.1' --out "$T/out"
grep -q "usage: hashemb prep" "$T/stderr" || bad "a bad command line prints the usage"

# --- small hand-written Criteo files and their failures (need no shared data) ---
I13=$(printf '1\t%.0s' $(seq 13))
C26=$(printf '68fd1e64\t%.0s' $(seq 25))80e26c9b
{
    printf '0\t%s%s\n' "$I13" "$C26"
    printf '1\t-2\t\t3\t100\t4096\t0\t1\t2\t3\t4\t5\t6\t7\t%s\n' "$C26"
    printf '0\t%s%s\n' "$I13" "$(printf '\t%.0s' $(seq 25))"
} > "$T/c.tsv"
"$H" prep --format criteo --train "$T/c.tsv" --split 1,0,0 --out "$T/out" 2> "$T/stderr" || bad "small criteo: $(cat "$T/stderr")"
[ "$(meta "$T/out" rows_train)" = 3 ] || bad "small criteo: 3 rows"
# I1: 1,-2,1 -> 2 values; I2: 1,"",1 -> 2; I3: 1,3 (ln(3)^2 = 1.2 -> 1),1 -> 1 value; I4: 1,100->21,1
[ "$(meta "$T/out" cardinalities | cut -d, -f1-5)" = "3,3,2,3,3" ] || bad "small criteo cards $(meta "$T/out" cardinalities)"
[ "$(meta "$T/out" pos_rate_valid)" = NA ] || bad "empty split pos rate NA"
rm -rf "$T/out"

# the inputs' sha256 in dataset.meta, plain and gzip, on 1 thread (hashed from pass 1's reads) and 2
# (hashed beside it); the file spans several read blocks
yes "$(printf '0\t%s%s\n1\t%s%s' "$I13" "$C26" "$I13" "$C26")" | head -n 70000 > "$T/big.tsv" # 18 MB
gzip -kc "$T/big.tsv" > "$T/big.tsv.gz"
for f in big.tsv big.tsv.gz; do
    want=$(sha256sum "$T/$f" | cut -c1-64)
    for th in 1 2; do
        "$H" prep --format criteo --train "$T/$f" --threads $th --out "$T/sha" 2> "$T/stderr" || bad "prep $f: $(cat "$T/stderr")"
        meta "$T/sha" source | grep -q "train=.*$f:$want" || bad "$f, $th thread(s): source sha256 $(meta "$T/sha" source), want $want"
        rm -rf "$T/sha"
    done
done
# two inputs on one thread: each hashed from its own reads
"$H" prep --format criteo --train "$T/big.tsv" --valid "$T/big.tsv.gz" --threads 1 --out "$T/sha" 2> "$T/stderr" || bad "prep train + valid: $(cat "$T/stderr")"
meta "$T/sha" source | grep -q "train=.*big.tsv:$(sha256sum "$T/big.tsv" | cut -c1-64).*valid=.*big.tsv.gz:$(sha256sum "$T/big.tsv.gz" | cut -c1-64)" ||
    bad "train + valid sha256: $(meta "$T/sha" source)"
rm -rf "$T/sha"

printf '0\t1\t2\n' > "$T/short.tsv"
expect_fail 1 "short.tsv:1: 3 columns, expected 40" --format criteo --train "$T/short.tsv" --out "$T/out"
{ cat "$T/c.tsv"; printf '2\t%s%s\n' "$I13" "$C26"; } > "$T/label2.tsv"
expect_fail 1 "label2.tsv:4: label '2' is not 0 or 1" --format criteo --train "$T/label2.tsv" --out "$T/out"
{ cat "$T/c.tsv"; printf '1\t1\tabc\t%s%s\n' "$(printf '1\t%.0s' $(seq 11))" "$C26"; } > "$T/text.tsv"
expect_fail 1 "text.tsv:4: column I2: 'abc' is not an integer" --format criteo --train "$T/text.tsv" --out "$T/out"
: > "$T/empty.tsv"
expect_fail 1 "empty.tsv: empty input" --format criteo --train "$T/empty.tsv" --out "$T/out"
expect_fail 1 "empty.tsv: empty input" --format criteo --train "$T/c.tsv" --valid "$T/empty.tsv" --out "$T/out"
expect_fail 1 "nonexistent.tsv: cannot open" --format criteo --train "$T/nonexistent.tsv" --out "$T/out"
# --skip-bad: one bad line allowed and reported; two are too many
{ cat "$T/label2.tsv"; cat "$T/c.tsv"; } > "$T/onebad.tsv"
"$H" prep --format criteo --train "$T/onebad.tsv" --skip-bad 1 --split 1,0,0 --out "$T/out" 2> "$T/stderr" ||
    bad "--skip-bad 1: $(cat "$T/stderr")"
grep -q "skipping .*onebad.tsv:4: label '2'" "$T/stderr" || bad "--skip-bad names the skipped line"
grep -q "skipped 1 bad line" "$T/stderr" || bad "--skip-bad reports the count"
[ "$(meta "$T/out" rows_train)" = 6 ] && [ "$(meta "$T/out" skipped_lines)" = 1 ] || bad "--skip-bad rows"
rm -rf "$T/out"
{ cat "$T/onebad.tsv"; cat "$T/text.tsv"; } > "$T/twobad.tsv"
expect_fail 1 "twobad.tsv:11: column I2.*(more than --skip-bad 1 bad lines)" --format criteo --train "$T/twobad.tsv" --skip-bad 1 --out "$T/out"

# a Criteo integer of 20 digits: refused, with nothing undefined on the way (UBSan under make asan)
{ cat "$T/c.tsv"; printf '1\t99999999999999999999\t%s%s\n' "$(printf '1\t%.0s' $(seq 12))" "$C26"; } > "$T/long.tsv"
expect_fail 1 "long.tsv:4: column I1: '99999999999999999999' is not an integer" --format criteo --train "$T/long.tsv" --out "$T/out"
{ cat "$T/c.tsv"; printf '1\t1\t-123456789012345678901234567890\t%s%s\n' "$(printf '1\t%.0s' $(seq 11))" "$C26"; } > "$T/long2.tsv"
expect_fail 1 "long2.tsv:4: column I2: '-123456789012345678901234567890' is not an integer" --format criteo --train "$T/long2.tsv" --out "$T/out"
# a categorical value over 16 MiB: said so, not given a made-up length
{ printf '0\t%s' "$I13"; head -c 17000000 /dev/zero | tr '\0' a; printf '\t%s\n' "$(printf '68fd1e64\t%.0s' $(seq 24))80e26c9b"; } > "$T/huge.tsv"
expect_fail 1 "huge.tsv:1: field C1: a value of 16 MiB or more (at most 16777215 bytes)" --format criteo --train "$T/huge.tsv" --out "$T/out"
grep -q 16777216 "$T/stderr" && bad "a value over 16 MiB reported as 16777216 bytes: $(cat "$T/stderr")"
rm -f "$T/huge.tsv"

# --- --out is checked before any work (the missing input would be the error otherwise) ---
expect_fail 2 "^hashemb prep: --out: empty" --format criteo --train "$T/nonexistent.tsv" --out ''
expect_fail 2 "^hashemb prep: --out: .*/nodir/x: its parent directory .*/nodir does not exist" --format criteo --train "$T/nonexistent.tsv" --out "$T/nodir/x"
expect_fail 2 "^hashemb prep: --out: .*c.tsv: exists and is not a directory" --format criteo --train "$T/nonexistent.tsv" --out "$T/c.tsv"
mkdir -p "$T/userdir"; echo keep > "$T/userdir/notes.txt"
expect_fail 2 "^hashemb prep: --out: .*userdir: exists and is not a hashemb dataset" --format criteo --train "$T/nonexistent.tsv" --out "$T/userdir/"
[ -f "$T/userdir/notes.txt" ] && [ "$(ls -A "$T/userdir")" = notes.txt ] || bad "a refused --out directory was touched: $(ls -A "$T/userdir")"
expect_fail 2 "^hashemb prep: --out: .*names no directory" --format criteo --train "$T/nonexistent.tsv" --out "$T/userdir/."
expect_fail 2 "^hashemb prep: --out: .*names no directory" --format criteo --train "$T/nonexistent.tsv" --out "$T/userdir/.."
rm -rf "$T/userdir"
# a trailing slash names the same directory: an existing dataset is replaced
"$H" prep --format criteo --train "$T/c.tsv" --split 1,0,0 --out "$T/ts" 2> "$T/stderr" || bad "prep --out ts: $(cat "$T/stderr")"
"$H" prep --format criteo --train "$T/c.tsv" --split 1,0,0 --out "$T/ts/" 2> "$T/stderr" || bad "prep --out ts/ over a dataset: $(cat "$T/stderr")"
"$H" prep --format criteo --train "$T/c.tsv" --split 1,0,0 --out "$T/ts//" 2> "$T/stderr" || bad "prep --out ts// over a dataset: $(cat "$T/stderr")"
[ "$(ls -A "$T/ts" | sort | tr '\n' ' ')" = "dataset.meta test.bin train.bin valid.bin " ] || bad "--out ts/: the dataset holds $(ls -A "$T/ts")"
ls -d "$T"/ts?* > /dev/null 2>&1 && bad "--out ts/ left $(ls -d "$T"/ts?*)"
rm -rf "$T/ts"
# an input that can be read only once (a FIFO, a pipe) is refused before pass 1, never waited on
mkfifo "$T/fifo.tsv"
expect_fail 1 "fifo.tsv: not a regular file" --format criteo --train "$T/fifo.tsv" --out "$T/out"
expect_fail 1 "fifo.tsv: not a regular file" --format criteo --train "$T/c.tsv" --test "$T/fifo.tsv" --out "$T/out"
rm -f "$T/fifo.tsv"

# --- a newline in an input's name cannot add keys to dataset.meta; a backslash survives the trip ---
nl=$'a\noracle_auc_test=0.99\nz='
cp "$T/c.tsv" "$T/$nl"
"$H" prep --format criteo --train "$T/$nl" --split 1,0,0 --out "$T/nl" 2> "$T/stderr" || bad "prep of a file with newlines in its name: $(cat "$T/stderr")"
grep -q '^oracle_auc_test=\|^z=' "$T/nl/dataset.meta" && bad "a newline in an input name injected keys into dataset.meta: $(grep -n '^oracle\|^z=' "$T/nl/dataset.meta")"
grep -qF "source=train=$T/a\\noracle_auc_test=0.99\\nz=:" "$T/nl/dataset.meta" || bad "source does not escape the newlines: $(grep -A2 '^source' "$T/nl/dataset.meta")"
"$H" info "$T/nl" > "$T/info" 2> "$T/stderr" || bad "info on it: $(cat "$T/stderr")"
[ "$(awk '$1 == "test" { print $4 }' "$T/info")" = NA ] || bad "info shows an oracle AUC for real data: $(grep '^test' "$T/info")"
grep -qF "source    train=$T/a\noracle_auc_test=0.99\nz=:" "$T/info" || bad "info does not show the input's name escaped on one line: $(grep -A2 source "$T/info")"
rm -rf "$T/nl" "$T/$nl"
bs='b\q\n.tsv'
cp "$T/c.tsv" "$T/$bs"
"$H" prep --format criteo --train "$T/$bs" --split 1,0,0 --out "$T/bs" 2> "$T/stderr" || bad "prep of b\\q\\n.tsv: $(cat "$T/stderr")"
grep -qF 'b\\q\\n.tsv:' "$T/bs/dataset.meta" || bad "a backslash is not written as \\\\: $(grep '^source' "$T/bs/dataset.meta")"
"$H" info "$T/bs" > "$T/info" 2> "$T/stderr" || bad "info on b\\q\\n.tsv's dataset: $(cat "$T/stderr")"
grep -qF 'b\\q\\n.tsv:' "$T/info" || bad "info does not show b\\q\\n.tsv escaped: $(grep source "$T/info")"
rm -rf "$T/bs" "$T/$bs"

# --- temporaries: a leftover of a dead process on this host is removed; others are kept ---
host=$(uname -n)
mkdir -p "$T/st.tmp.$host.99999999" "$T/st.tmp.not-$host.99999999" "$T/st.tmp.$host.$$"
: > "$T/st.tmp.$host.99999999/train.bin"
"$H" prep --format criteo --train "$T/c.tsv" --split 1,0,0 --out "$T/st" 2> "$T/stderr" || bad "prep beside leftovers: $(cat "$T/stderr")"
[ -e "$T/st.tmp.$host.99999999" ] && bad "a dead process's temporary directory is left"
[ -d "$T/st.tmp.not-$host.99999999" ] || bad "another host's temporary directory was removed"
[ -d "$T/st.tmp.$host.$$" ] || bad "a live process's temporary directory was removed"
rm -rf "$T"/st*
# SIGTERM in pass 1 and SIGINT in pass 2 remove the temporary directory (its files with it)
yes "$(printf '0\t%s%s\n1\t%s%s' "$I13" "$C26" "$I13" "$C26")" | head -n 600000 | gzip -1 > "$T/slow.tsv.gz" # 150 MB of text
for case in "TERM 143 sig.tmp.*" "INT 130 sig.tmp.*/train.bin"; do
    set -- $case
    msg=$(signal_check "$1" "$2" "$3" "$H" prep --format criteo --train "$T/slow.tsv.gz" --threads 1 --out "$T/sig" 2> "$T/stderr")
    [ -z "$msg" ] || bad "prep: $msg: $(tail -1 "$T/stderr")"
done
rm -f "$T/slow.tsv.gz"

# --- Avazu: a header file and a headerless one; the hour becomes three fields ---
A='0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,07d7df22,a99f214a,ddd2926e,44956a24,1,2,15706,320,50,1722,0,35,-1,79'
B='1,85f751fd,c4e18dd6,50e219e0,9c13b419,2347f47a,f95efa07,a99f214a,c7ebd0b1,e9b8d8d7,1,0,20352,320,50,2333,0,39,-1,157'
{
    echo 'id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21'
    echo "1000009418151094273,0,14102100,1005,$A"
    echo "10000169349117863715,1,14102523,1005,$B"
    echo "10000371904215119486,0,14102601,1002,$A"
    echo "10000640724480838376,0,14102100,1005,$B"
} > "$T/avazu.csv"
printf '%s\r\n' "1,1,14102205,1005,$A" "2,0,14102100,1010,$B" > "$T/avazu_valid.csv"
"$H" prep --format avazu --train "$T/avazu.csv" --valid "$T/avazu_valid.csv" --split 1,0,0 --id-order first \
    --out "$T/out" 2> "$T/stderr" || bad "avazu: $(cat "$T/stderr")"
[ "$(meta "$T/out" fields)" = 24 ] || bad "avazu: 24 fields"
[ "$(meta "$T/out" field_names | cut -d, -f1-5)" = "hour_of_day,weekday,is_weekend,C1,banner_pos" ] ||
    bad "avazu field names $(meta "$T/out" field_names)"
[ "$(meta "$T/out" field_names | cut -d, -f24)" = C21 ] || bad "avazu: the last field is C21"
[ "$(meta "$T/out" rows_train),$(meta "$T/out" rows_valid),$(meta "$T/out" rows_test)" = "4,2,0" ] || bad "avazu rows"
# hours 0, 23, 1, 0 on Tue, Sat, Sun, Tue: 3 hours, 3 weekdays, 2 weekend values, + OOV
[ "$(meta "$T/out" cardinalities | cut -d, -f1-4)" = "4,4,3,3" ] || bad "avazu cards $(meta "$T/out" cardinalities)"
[ "$(meta "$T/out" pos_rate_train)" = 0.250000 ] || bad "avazu pos rate"
# ids in order of first appearance: rows (1,1,1), (2,2,2), (3,3,2), (1,1,1) in the hour fields
ids=$(od -A n -t u4 -v -j 128 -N $((4 * 24 * 4)) "$T/out/train.bin" | tr -s ' \n' ' ' |
    awk '{ for (r = 0; r < 4; r++) printf "%s%d%d%d", r ? " " : "", $(r*24+1), $(r*24+2), $(r*24+3) }')
[ "$ids" = "111 222 332 111" ] || bad "avazu hour ids: $ids"
# valid (headerless, CRLF): row 1 is 05h on Wednesday (OOV hour and weekday), row 2 Tuesday 00h
vids=$(od -A n -t u4 -v -j 128 -N $((2 * 24 * 4)) "$T/out/valid.bin" | tr -s ' \n' ' ' |
    awk '{ for (r = 0; r < 2; r++) printf "%s%d%d%d", r ? " " : "", $(r*24+1), $(r*24+2), $(r*24+3) }')
[ "$vids" = "001 111" ] || bad "avazu valid hour ids: $vids"
rm -rf "$T/out"
cut -d, -f1,3- "$T/avazu.csv" > "$T/avazu_test.csv"
expect_fail 1 "avazu_test.csv:1: the header has no click column" --format avazu --train "$T/avazu_test.csv" --out "$T/out"
tail -n +2 "$T/avazu_test.csv" > "$T/avazu_test_nohdr.csv"
expect_fail 1 "avazu_test_nohdr.csv:1: 23 columns, expected 24.*needs labels" --format avazu --train "$T/avazu_test_nohdr.csv" --out "$T/out"
sed '3s/14102523/14132523/' "$T/avazu.csv" > "$T/avazu_badhour.csv"
expect_fail 1 "avazu_badhour.csv:3: hour '14132523' is not a valid YYMMDDHH" --format avazu --train "$T/avazu_badhour.csv" --out "$T/out"

# --- csv with a schema: quoting, another separator, columns by name ---
{
    echo 'ts;"user id";clicked;city;note'
    echo '1;u1;0;paris;"a;b"'
    echo '2;u2;1;"new ""york""";x'
    echo '3;u1;1;paris;'
    echo '4;u3;0;;y'
} > "$T/t.csv"
printf '# a schema\nlabel=clicked\ncat=user id\ncat=city\nsep=;\n' > "$T/schema"
"$H" prep --format csv --schema "$T/schema" --train "$T/t.csv" --split 1,0,0 --out "$T/out" 2> "$T/stderr" ||
    bad "csv: $(cat "$T/stderr")"
[ "$(meta "$T/out" field_names)" = "user id,city" ] || bad "csv field names $(meta "$T/out" field_names)"
[ "$(meta "$T/out" cardinalities)" = "4,4" ] || bad "csv cards $(meta "$T/out" cardinalities)"
[ "$(meta "$T/out" pos_rate_train)" = 0.500000 ] || bad "csv pos rate"
rm -rf "$T/out"
{ printf '\xef\xbb\xbf'; cat "$T/t.csv"; } > "$T/bom.csv" # a byte-order mark before the header
"$H" prep --format csv --schema "$T/schema" --train "$T/bom.csv" --split 1,0,0 --out "$T/out" 2> "$T/stderr" ||
    bad "csv with a byte-order mark: $(cat "$T/stderr")"
[ "$(meta "$T/out" cardinalities)" = "4,4" ] || bad "csv with a byte-order mark: cards"
rm -rf "$T/out"
printf 'label=clicked\ncat=user id,town\nsep=;\n' > "$T/schema2"
expect_fail 1 "t.csv:1: the header has no column 'town' (named at .*schema2:2)" --format csv --schema "$T/schema2" --train "$T/t.csv" --out "$T/out"
printf 'label=clicked\ncolumns=a\n' > "$T/schema3"
expect_fail 1 "schema3:2: unknown key 'columns'" --format csv --schema "$T/schema3" --train "$T/t.csv" --out "$T/out"
printf 'label=clicked\n=city\n' > "$T/schema5"
expect_fail 1 "schema5:2: empty key" --format csv --schema "$T/schema5" --train "$T/t.csv" --out "$T/out"
printf 'label=clicked\ncat city\n' > "$T/schema6"
expect_fail 1 "schema6:2: expected label=COLUMN, cat=COLUMN,... or sep=CHAR" --format csv --schema "$T/schema6" --train "$T/t.csv" --out "$T/out"
mkfifo "$T/schema.fifo" # the one key=value reader (kv_read) never waits on a FIFO
expect_fail 1 "schema.fifo: not a regular file" --format csv --schema "$T/schema.fifo" --train "$T/t.csv" --out "$T/out"
rm -f "$T/schema.fifo"
expect_fail 1 "nothere: cannot open the schema" --format csv --schema "$T/nothere" --train "$T/t.csv" --out "$T/out"
printf 'label=clicked\ncat=city\nsep=;\n' > "$T/schema4"
printf '1;u1;0;paris;x;extra\n' >> "$T/t.csv"
expect_fail 1 "t.csv:6: 6 columns, expected 5" --format csv --schema "$T/schema4" --train "$T/t.csv" --out "$T/out"

# --- the real samples ---
CRITEO=$SHARED/data/criteo
FRAPPE=$SHARED/data/frappe
if [ ! -f "$CRITEO/criteo_dac_train7200.tsv.gz" ] || [ ! -f "$FRAPPE/frappe.validation.libfm.gz" ]; then
    echo "  skip: $SHARED/data is absent: the Criteo and Frappe checks do not run" >&2
    exit $fail
fi

run() { "$H" prep "$@" 2> "$T/stderr" || bad "prep $*: $(cat "$T/stderr")"; }
run --format criteo --train "$CRITEO/criteo_dac_train7200.tsv.gz" --valid "$CRITEO/criteo_dac_dev409.tsv.gz" \
    --test "$CRITEO/criteo_dac_test391.tsv.gz" --out "$T/c1"
[ "$(meta "$T/c1" rows_train),$(meta "$T/c1" rows_valid),$(meta "$T/c1" rows_test)" = "7200,409,391" ] ||
    bad "criteo rows"
[ "$(meta "$T/c1" fields)" = 39 ] || bad "criteo fields"
rates=$(for s in train valid test; do meta "$T/c1" pos_rate_$s; done | awk '{ printf "%s%.4f", (NR > 1 ? "," : ""), $1 }')
[ "$rates" = "0.2151,0.2274,0.2199" ] || bad "criteo positive rates $rates"
meta "$T/c1" source | grep -q "train=.*criteo_dac_train7200.tsv.gz:eb90d5d9c74fdb3fb22c6bafc11c10f6c2407bf3a8d502754d72a7ff1f9df30e" ||
    bad "criteo source sha256"
# cardinalities counted independently: distinct per column, empty a value, integers by floor(ln(x)^2)
want=$(gzip -dc "$CRITEO/criteo_dac_train7200.tsv.gz" | awk -F'\t' '
    { for (i = 2; i <= 40; i++) { v = $i; if (i <= 14 && v != "" && v + 0 > 2) { l = log(v + 0); v = int(l * l) }
          k = i SUBSEP v; if (!(k in s)) { s[k] = 1; c[i]++ } } }
    END { for (i = 2; i <= 40; i++) printf "%s%d", (i > 2 ? "," : ""), c[i] + 1 }')
[ "$(meta "$T/c1" cardinalities)" = "$want" ] || bad "criteo cardinalities $(meta "$T/c1" cardinalities), awk $want"

# determinism: the same bytes again, with one thread, and from the decompressed CRLF text
run --format criteo --train "$CRITEO/criteo_dac_train7200.tsv.gz" --valid "$CRITEO/criteo_dac_dev409.tsv.gz" \
    --test "$CRITEO/criteo_dac_test391.tsv.gz" --threads 1 --out "$T/c2"
gzip -dc "$CRITEO/criteo_dac_train7200.tsv.gz" | sed 's/$/\r/' > "$T/train_crlf.tsv"
run --format criteo --train "$T/train_crlf.tsv" --valid "$CRITEO/criteo_dac_dev409.tsv.gz" \
    --test "$CRITEO/criteo_dac_test391.tsv.gz" --out "$T/c3"
for s in train valid test; do
    cmp -s "$T/c1/$s.bin" "$T/c2/$s.bin" || bad "criteo $s.bin differs between two runs"
    cmp -s "$T/c1/$s.bin" "$T/c3/$s.bin" || bad "criteo $s.bin differs between .gz and CRLF text"
done
# id orders: the same cardinalities, other ids; hash depends on the seed
for o in first hash; do
    run --format criteo --train "$CRITEO/criteo_dac_train7200.tsv.gz" --valid "$CRITEO/criteo_dac_dev409.tsv.gz" \
        --test "$CRITEO/criteo_dac_test391.tsv.gz" --id-order $o --out "$T/c_$o"
    [ "$(meta "$T/c_$o" cardinalities)" = "$want" ] || bad "--id-order $o cardinalities"
    [ "$(meta "$T/c_$o" id_order)" = $o ] || bad "--id-order $o recorded"
    cmp -s "$T/c1/train.bin" "$T/c_$o/train.bin" && bad "--id-order $o gives the same ids as freq"
done
run --format criteo --train "$CRITEO/criteo_dac_train7200.tsv.gz" --valid "$CRITEO/criteo_dac_dev409.tsv.gz" \
    --test "$CRITEO/criteo_dac_test391.tsv.gz" --id-order hash --seed 2 --out "$T/c_hash2"
cmp -s "$T/c_hash/train.bin" "$T/c_hash2/train.bin" && bad "--id-order hash ignores --seed"
# --min-count 2: the values seen at least twice, + OOV, for C3
want3=$(gzip -dc "$CRITEO/criteo_dac_train7200.tsv.gz" | awk -F'\t' '{ n[$17]++ } END { for (v in n) k += n[v] >= 2; print k + 1 }')
run --format criteo --train "$CRITEO/criteo_dac_train7200.tsv.gz" --valid "$CRITEO/criteo_dac_dev409.tsv.gz" \
    --test "$CRITEO/criteo_dac_test391.tsv.gz" --min-count 2 --out "$T/c_mc"
[ "$(meta "$T/c_mc" cardinalities | cut -d, -f16)" = "$want3" ] || bad "--min-count 2: C3 $(meta "$T/c_mc" cardinalities | cut -d, -f16), awk $want3"
rm -rf "$T"/c_* "$T/c2" "$T/c3"

# carving: the dev file alone, cut 80/10/10 by line; then a truncated .gz, which must not pass as short
run --format criteo --train "$CRITEO/criteo_dac_dev409.tsv.gz" --out "$T/carve"
[ $(($(meta "$T/carve" rows_train) + $(meta "$T/carve" rows_valid) + $(meta "$T/carve" rows_test))) = 409 ] ||
    bad "carved rows add up to 409"
[ "$(meta "$T/carve" rows_valid)" -gt 15 ] && [ "$(meta "$T/carve" rows_valid)" -lt 70 ] || bad "carved valid rows $(meta "$T/carve" rows_valid)"
# gzip members concatenated (how the README joins Criteo 1TB days) read as one file
cat "$CRITEO/criteo_dac_dev409.tsv.gz" "$CRITEO/criteo_dac_test391.tsv.gz" > "$T/two.tsv.gz"
run --format criteo --train "$T/two.tsv.gz" --split 1,0,0 --out "$T/two"
[ "$(meta "$T/two" rows_train)" = 800 ] || bad "two gzip members: $(meta "$T/two" rows_train) rows, want 800"
head -c 100000 "$CRITEO/criteo_dac_train7200.tsv.gz" > "$T/trunc.tsv.gz"
expect_fail 1 "trunc.tsv.gz: truncated gzip file" --format criteo --train "$T/trunc.tsv.gz" --out "$T/out"
{ head -c 10 "$CRITEO/criteo_dac_train7200.tsv.gz"; head -c 5000 /dev/zero; } > "$T/garbage.tsv.gz"
expect_fail 1 "garbage.tsv.gz: " --format criteo --train "$T/garbage.tsv.gz" --out "$T/out"

# --- Frappe (libFM, CRLF, labels -1/1): valid carved out of the validation file ---
run --format libfm --train "$FRAPPE/frappe.validation.libfm.gz" --test "$FRAPPE/frappe.test.libfm.gz" --out "$T/f1"
[ "$(meta "$T/f1" fields)" = 10 ] || bad "frappe fields"
[ "$(meta "$T/f1" field_names)" = "f1,f2,f3,f4,f5,f6,f7,f8,f9,f10" ] || bad "frappe field names"
[ $(($(meta "$T/f1" rows_train) + $(meta "$T/f1" rows_valid))) = 57722 ] || bad "frappe train + valid = 57722"
[ "$(meta "$T/f1" rows_test)" = 28860 ] || bad "frappe test rows"
nv=$(meta "$T/f1" rows_valid) # expected 57722/9 = 6414, sd 75
[ "$nv" -gt 6100 ] && [ "$nv" -lt 6750 ] || bad "frappe carved valid rows $nv (about 6414 expected)"
[ "$(meta "$T/f1" pos_rate_test)" = 0.330423 ] || bad "frappe test positive rate $(meta "$T/f1" pos_rate_test)"
fwant=$(gzip -dc "$FRAPPE/frappe.validation.libfm.gz" | tr -d '\r' | awk '
    { for (i = 2; i <= NF; i++) { k = i SUBSEP $i; if (!(k in s)) { s[k] = 1; c[i]++ } } }
    END { for (i = 2; i <= 11; i++) printf "%s%d", (i > 2 ? "," : ""), c[i] + 1 }')
paste -d' ' <(meta "$T/f1" cardinalities | tr , '\n') <(echo "$fwant" | tr , '\n') |
    awk '$1 > $2 || $1 < 2 { bad = 1 } END { exit bad }' || bad "frappe carved cardinalities $(meta "$T/f1" cardinalities) vs file $fwant"
# with nothing carved, the training rows are the whole file: exactly the awk count
run --format libfm --train "$FRAPPE/frappe.validation.libfm.gz" --test "$FRAPPE/frappe.test.libfm.gz" \
    --split 1,0,0 --out "$T/f2"
[ "$(meta "$T/f2" cardinalities)" = "$fwant" ] || bad "frappe cardinalities $(meta "$T/f2" cardinalities), awk $fwant"
[ "$(meta "$T/f2" rows_train)" = 57722 ] && [ "$(meta "$T/f2" rows_valid)" = 0 ] || bad "frappe --split 1,0,0 rows"
gzip -dc "$FRAPPE/frappe.test.libfm.gz" | head -3 > "$T/f.libfm"
echo "1 1:1 2:1" >> "$T/f.libfm"
expect_fail 1 "f.libfm:4: 2 features, expected 10" --format libfm --train "$T/f.libfm" --out "$T/out"
echo "2 1:1 2:1 3:1 4:1 5:1 6:1 7:1 8:1 9:1 10:1" > "$T/f2.libfm"
expect_fail 1 "f2.libfm:1: label '2' is not -1, 0, 1 or +1" --format libfm --train "$T/f2.libfm" --out "$T/out"
rm -rf "$T/f1" "$T/f2" "$T/c1"

# --- --out never replaces a directory that is not a hashemb dataset ---
mkdir -p "$T/mine"; echo important > "$T/mine/notes.txt"
awk 'BEGIN { for (i = 0; i < 50; i++) printf "%d %d:1 %d:1\n", i % 2, i % 7, 100 + i % 5 }' > "$T/mine/train.libfm"
"$H" prep --format libfm --train "$T/mine/train.libfm" --out "$T/mine" > /dev/null 2> "$T/stderr" && bad "prep replaced a user's directory"
grep -q "is not a hashemb dataset" "$T/stderr" || bad "refusal names the reason: $(head -1 "$T/stderr")"
[ -f "$T/mine/notes.txt" ] && [ -f "$T/mine/train.libfm" ] || bad "the user's files survive"
"$H" prep --format libfm --train "$T/mine/train.libfm" --out "$T/ds" 2> /dev/null || bad "prep into a new directory"
"$H" prep --format libfm --train "$T/mine/train.libfm" --out "$T/ds" 2> /dev/null || bad "prep replaces its own dataset"

ls -d "$T"/*.tmp.* > /dev/null 2>&1 && bad "temporary directories left behind"
exit $fail
