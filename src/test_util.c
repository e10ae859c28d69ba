/* Unit tests of util's number parsers: only plain decimal numbers are numbers (SPEC 2: "numbers that do
 * not parse completely ... give a one-line reason"), so a flag never takes a hex float, a padded value,
 * inf or nan for a number. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "testing.h"
#include "util.h"

static void test_parse_i64(void) {
    static const struct {
        const char *s;
        long long want;
    } ok[] = {{"0", 0},   {"7", 7},     {"-7", -7},   {"+7", 7},    {"0012", 12},
              {"1099511627776", 1ll << 40}, {"-9223372036854775808", INT64_MIN},
              {"9223372036854775807", INT64_MAX}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        long long v = -99;
        Err e = {{0}};
        int rc = parse_i64(ok[i].s, INT64_MIN, INT64_MAX, "--n", &v, &e);
        T_CHECK(rc == 0 && v == ok[i].want, "'%s' -> rc %d, %lld (%s)", ok[i].s, rc, v, e.msg);
    }
    static const char *no[] = {"",     " 3",   "3 ",   "\t3",  "3\n", "0x10", "0X10", "1e3",  "3.0",
                               "3.",   "+",    "-",    "--3",  "+-3", "3a",   "a3",   "0b1",  "inf",
                               "nan",  "1,2",  " ",    "9223372036854775808", "-9223372036854775809",
                               "\xef\xbc\x93" /* fullwidth 3 */};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        long long v = -99;
        Err e = {{0}};
        int rc = parse_i64(no[i], INT64_MIN, INT64_MAX, "--n", &v, &e);
        T_CHECK(rc == -1 && v == -99, "'%s' accepted as %lld", no[i], v);
        T_CHECK(rc == 0 || strstr(e.msg, "--n") != NULL, "'%s': the message names the flag: %s", no[i],
                e.msg);
    }
    long long v;
    Err e;
    T_CHECK(parse_i64("11", 1, 10, "--n", &v, &e) == -1 && strstr(e.msg, "out of range"),
            "range: %s", e.msg);
    T_CHECK(parse_i64(NULL, 1, 10, "--n", &v, &e) == -1, "NULL");
}

static void test_parse_f64(void) {
    static const struct {
        const char *s;
        double want;
    } ok[] = {{"0", 0},         {"3", 3},       {"-3", -3},     {"+3", 3},     {"3.25", 3.25},
              {"3.", 3},        {".5", 0.5},    {"-.5", -0.5},  {"1e-3", 1e-3}, {"1E3", 1e3},
              {"2.5e+2", 250},  {"1e308", 1e308}, {"007.5", 7.5}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = -99;
        Err e = {{0}};
        int rc = parse_f64(ok[i].s, -INFINITY, INFINITY, "--x", &v, &e);
        T_CHECK(rc == 0 && v == ok[i].want, "'%s' -> rc %d, %g (%s)", ok[i].s, rc, v, e.msg);
    }
    static const char *no[] = {"",      " 3",    "3 ",     "\t3",   "3\n",   "0x10",   "0x1p-3",
                               "0X1P3", "inf",   "-inf",   "INF",   "infinity", "nan", "NaN",
                               "nan(1)", ".",    "-.",     "e3",    ".e3",   "1e",     "1e+",
                               "1.2.3", "1e3.5", "3a",     "1,5",   "1e400", "--1",    "+-1",
                               "1_000"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        double v = -99;
        Err e = {{0}};
        int rc = parse_f64(no[i], -INFINITY, INFINITY, "--x", &v, &e);
        T_CHECK(rc == -1 && v == -99, "'%s' accepted as %g", no[i], v);
        T_CHECK(rc == 0 || strstr(e.msg, "--x") != NULL, "'%s': the message names the flag: %s", no[i],
                e.msg);
    }
    double v;
    Err e;
    T_CHECK(parse_f64("2", 0, 1, "--x", &v, &e) == -1 && strstr(e.msg, "out of range"), "range: %s",
            e.msg);
}

static void test_lists(void) {
    long long *v = NULL;
    int n = 0;
    Err e;
    T_CHECK(parse_i64_list("1,2,3", 0, 10, "--l", &v, &n, &e) == 0 && n == 3 && v[2] == 3, "1,2,3");
    free(v);
    static const char *no[] = {"1, 2", "1,0x2", ",1", "1,", "1,,2", " 1,2"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        v = NULL;
        T_CHECK(parse_i64_list(no[i], 0, 10, "--l", &v, &n, &e) == -1 && v == NULL, "'%s' accepted",
                no[i]);
    }
    double *w = NULL;
    T_CHECK(parse_f64_list("0.8,0.1,0.1", 0, 1, "--split", &w, &n, &e) == 0 && n == 3 && w[0] == 0.8,
            "0.8,0.1,0.1");
    free(w);
    w = NULL;
    T_CHECK(parse_f64_list("0.8,0x1p-3,0.1", 0, 1, "--split", &w, &n, &e) == -1 && w == NULL,
            "a hex float in a list");
}

int main(void) {
    test_parse_i64();
    test_parse_f64();
    test_lists();
    return t_report("test_util");
}
