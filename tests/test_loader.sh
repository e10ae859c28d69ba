#!/usr/bin/env bash
# The dataset loader (ds_open and the dataset.meta reader) on damaged or edited datasets, through
# `hashemb info`: every bad dataset.meta item and every non-regular split file is refused with a message
# naming dataset.meta (FILE:LINE) or the file and the item, exit 1, and no sanitizer report; nothing
# blocks. Needs $HASHEMB (run_tests.sh sets it). Takes a few seconds.
. "$(dirname "$0")/testing.sh"

"$H" gen --profile tiny --rows 2000 --out "$T/D" 2> "$T/e" || { bad "gen tiny: $(cat "$T/e")"; exit 1; }
"$H" info "$T/D" > /dev/null 2> "$T/e" || bad "info on a good dataset: $(cat "$T/e")"
grep -q '^support=3,10,50,100,200,400,700,1000$' "$T/D/dataset.meta" || bad "tiny's supports changed: $(grep support "$T/D/dataset.meta")"
LAST=$(sed -n 's/^cardinalities=.*,//p' "$T/D/dataset.meta") # N_f of the last field (train's values)
grep -q '^field_names=t1,t2,t3,t4,t5,t6,t7,t8$' "$T/D/dataset.meta" || bad "tiny's field names changed: $(grep field_names "$T/D/dataset.meta")"

# refused WHAT PATTERN: info on $T/X must exit 1 within 20 s, say PATTERN, and no sanitizer may speak
refused() {
    local what=$1 pat=$2
    timeout 20 "$H" info "$T/X" > /dev/null 2> "$T/e"
    local rc=$?
    [ $rc = 124 ] && bad "$what: info hangs"
    [ $rc = 1 ] || bad "$what: exit $rc, want 1: $(head -3 "$T/e")"
    grep -q -- "$pat" "$T/e" || bad "$what: stderr lacks '$pat': $(head -3 "$T/e")"
    grep -q 'Sanitizer\|runtime error' "$T/e" && bad "$what: sanitizer report: $(grep -m1 'Sanitizer\|runtime error' "$T/e")"
    rm -rf "$T/X"
}
# edit SED-SCRIPT: a copy of the good dataset with dataset.meta edited
edit() {
    rm -rf "$T/X"
    cp -r "$T/D" "$T/X"
    sed -i "$1" "$T/X/dataset.meta"
}
line() { grep -n "^$1=" "$T/D/dataset.meta" | cut -d: -f1; }
C=$(line cardinalities)
N=$(line field_names)

# --- the field count against the lists (the use after free of ds_open) ---
edit 's/^fields=8/fields=7/'
refused "fields=7 for 8 cardinalities" "dataset.meta:$C: cardinalities: item 8 '$LAST' is one more than the 7 fields"
edit 's/^fields=8/fields=9/'
refused "fields=9 for 8 cardinalities" "dataset.meta:$C: cardinalities: 8 items for 9 fields"

# --- cardinalities: each item a plain count in 1..2^32-1, none empty, one per field ---
for c in 0 -1 0x19 25.0 4294967296 ' 25' '25 ' +25 1e3 abc 18446744073709551617; do
    edit "s/^cardinalities=3,/cardinalities=$c,/"
    refused "cardinality '$c'" "dataset.meta:$C: cardinalities: item 1 '$c' is not a count in 1..4294967295"
done
edit 's/^cardinalities=.*/&,5/'
refused "an extra cardinality" "dataset.meta:$C: cardinalities: item 9 '5' is one more than the 8 fields"
edit 's/^cardinalities=3,10,/cardinalities=3,,10,/'
refused "an empty cardinality (,,)" "dataset.meta:$C: cardinalities: item 2 is empty"
edit 's/^cardinalities=/cardinalities=,/'
refused "a leading comma in cardinalities" "dataset.meta:$C: cardinalities: item 1 is empty"
edit 's/^cardinalities=.*/&,/'
refused "a trailing comma in cardinalities" "dataset.meta:$C: cardinalities: item 9 is empty"
edit 's/^cardinalities=.*/cardinalities=/'
refused "empty cardinalities" "dataset.meta:$C: cardinalities: item 1 is empty"
# a valid but different count: the ids of the file are then checked against it
edit 's/^cardinalities=3,/cardinalities=2,/'
"$H" info "$T/X" > /dev/null 2> "$T/e" && bad "cardinality 2 below the ids in train.bin accepted"
rm -rf "$T/X"

# --- field names: none empty, exactly one per field ---
edit 's/^field_names=t1,/field_names=t1,,/'
refused "an empty field name (,,)" "dataset.meta:$N: field_names: item 2 is empty"
edit 's/^field_names=/field_names=,/'
refused "a leading comma in field_names" "dataset.meta:$N: field_names: item 1 is empty"
edit 's/^field_names=.*/&,/'
refused "a trailing comma in field_names" "dataset.meta:$N: field_names: item 9 is empty"
edit 's/^field_names=.*/&,t9/'
refused "an extra field name" "dataset.meta:$N: field_names: item 9 't9' is one more than the 8 fields"
edit 's/^field_names=.*/field_names=t1,t2,t3/'
refused "too few field names" "dataset.meta:$N: field_names: 3 items for 8 fields"

# --- the version, duplicate and malformed lines, counts ---
edit 's/^version=1/version=2/'
refused "version=2" "dataset.meta:1: version '2' is not supported (this build reads version 1)"
edit 's/^version=1/version=01/'
refused "version=01" "dataset.meta:1: version '01' is not supported"
edit '/^version=/d'
refused "no version" "dataset.meta: missing key 'version'"
edit "$(line fields)a fields=38"
refused "a duplicate fields= line" "dataset.meta:$(($(line fields) + 1)): duplicate key 'fields' (first at line $(line fields))"
edit "\$a cardinalities=3,10,50,100,200,400,700,1000"
refused "a duplicate cardinalities= line" "dataset.meta:$(($(wc -l < "$T/D/dataset.meta") + 1)): duplicate key 'cardinalities'"
edit '$a no equals sign'
refused "a line without =" "dataset.meta:$(($(wc -l < "$T/D/dataset.meta") + 1)): expected key=value"
edit '$a =x'
refused "an empty key" "dataset.meta:$(($(wc -l < "$T/D/dataset.meta") + 1)): empty key"
for v in -1 ' 1600' 1600x 0x640 +1600 ''; do
    edit "s/^rows_train=.*/rows_train=$v/"
    refused "rows_train='$v'" "dataset.meta:$(line rows_train): rows_train: '$v' is not a count"
done
edit 's/^fields=8/fields=0x8/'
refused "fields=0x8" "dataset.meta:$(line fields): fields: '0x8' is not a count"
# escapes: \\ \n \r only (dataset.meta escapes a backslash, newline and carriage return in a value)
edit 's/^source=.*/source=a\\qb/'
refused "an unknown escape" "dataset.meta:$(line source): source: unknown escape"
edit 's/^source=.*/source=ab\\/'
refused "a trailing backslash" "dataset.meta:$(line source): source: unknown escape"
edit 's/^source=.*/source=a\\nb\\\\c/'
timeout 20 "$H" info "$T/X" > "$T/out" 2> "$T/e" || bad "escaped source refused: $(cat "$T/e")"
grep -qxF 'source    a\nb\\c' "$T/out" || bad "info does not show the source escaped, on one line: $(grep -A1 source "$T/out")"
rm -rf "$T/X"

# --- split files and dataset.meta that are not regular files: refused, never waited on ---
for f in train.bin valid.bin dataset.meta; do
    rm -rf "$T/X"
    cp -r "$T/D" "$T/X"
    rm "$T/X/$f"
    mkfifo "$T/X/$f"
    refused "a FIFO as $f" "$f: not a regular file"
done
rm -rf "$T/X"
cp -r "$T/D" "$T/X"
rm "$T/X/test.bin"
mkdir "$T/X/test.bin"
refused "a directory as test.bin" "test.bin: not a regular file"
rm -rf "$T/X"
cp -r "$T/D" "$T/X"
ln -sf /dev/zero "$T/X/valid.bin"
refused "/dev/zero as valid.bin" "valid.bin: not a regular file"

[ $fail = 0 ] && echo "test_loader.sh: all passed" >&2
exit $fail
